"""``infill-lsp pull``: download a model into the Hugging Face cache, checked before it is used.

The hub client (huggingface_hub) does the transfer: it honours ``HF_ENDPOINT`` (a mirror),
``HF_HUB_OFFLINE``, ``HF_TOKEN`` and the token it saved, shows a progress bar, retries a broken
transfer (version 2.4 starts it over: ``tests/test_models_pull.py`` shows it), and writes to an
``.incomplete`` file that only becomes the cached file when whole (one that fails is deleted). It
checks the size only, so the SHA-256 is checked here: against the catalog's digest when the entry
was reviewed, else against the one the hub publishes for the file. A file that does not match is
removed from the cache. Before anything is written, the disk must have room for the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from infill_lsp.catalog import CatalogEntry, cached_file
from infill_lsp.installed import hub_client_command, hub_client_installed

DISK_MARGIN = 256 * 1024 * 1024
"""Free space kept beyond the file itself."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PullError(Exception):
    """The download cannot be done or was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Pulled:
    path: Path
    sha256: str
    downloaded: bool
    """False when the file was already in the cache."""


def pull(entry: CatalogEntry) -> Pulled:
    """The entry's file in the cache, downloaded and checked if it is not there yet."""
    if not hub_client_installed():
        raise PullError(f"downloading needs the hub client, an optional part of Infill: add it with "
                        f"`{hub_client_command()}`")
    # Imported here: the hub client is slow to import, and only the catalog commands need it.
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, OfflineModeIsEnabled

    present = cached_file(entry.repo, entry.file)
    if present is not None:
        return Pulled(present, _checked(entry, present, _published(present)), downloaded=False)
    if constants.HF_HUB_OFFLINE:
        raise PullError(f"{entry.name} is not in the cache and HF_HUB_OFFLINE is set: unset it to download")
    try:
        metadata = get_hf_file_metadata(hf_hub_url(entry.repo, entry.file))
    except OfflineModeIsEnabled as error:
        raise PullError(f"cannot reach the hub for {entry.name}: {error}") from None
    except (HfHubHTTPError, EntryNotFoundError) as error:
        raise PullError(f"the hub has no {entry.repo}/{entry.file} ({_first_line(error)})") from None
    except Exception as error:  # the hub client's transport errors are not OSErrors
        raise PullError(f"cannot reach {constants.ENDPOINT} ({_first_line(error)}); set HF_ENDPOINT for a mirror"
                        ) from None
    size = entry.size_bytes or metadata.size or entry.estimated_bytes()
    cache = Path(constants.HF_HUB_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache).free
    if free < size + DISK_MARGIN:
        raise PullError(f"{entry.name} needs {_gib(size)} and {cache} has {_gib(free)} free: nothing was downloaded")
    try:
        path = Path(hf_hub_download(entry.repo, entry.file))  # its progress bar goes to stderr
    except Exception as error:  # (transport errors included) the client deleted its .incomplete file
        raise PullError(f"the download of {entry.name} failed ({_first_line(error)}); nothing was kept, run "
                        "`infill-lsp pull` again to start over") from None
    return Pulled(path, _checked(entry, path, (metadata.etag or "").lower()), downloaded=True)


def _published(path: Path) -> str:
    """The digest the hub published for a cached file: its blob is named by it."""
    return Path(os.path.realpath(path)).name.lower()


def _checked(entry: CatalogEntry, path: Path, published: str) -> str:
    """The file's SHA-256, if it matches what it must; else the file leaves the cache."""
    expected = (entry.sha256 or "").lower() if entry.verified else ""
    if not expected and not _SHA256.match(published):
        _remove(path)
        raise PullError(f"the hub published no SHA-256 for {entry.file} and the catalog has none: it was not kept")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    for name, wanted in (("catalog", expected), ("hub", published if _SHA256.match(published) else "")):
        if wanted and actual != wanted:
            _remove(path)
            raise PullError(f"{entry.file} does not match the {name}'s SHA-256 (got {actual[:12]}…, expected "
                            f"{wanted[:12]}…): it was removed from the cache")
    return actual


def _remove(path: Path) -> None:
    """Remove a cached file: its blob and the snapshot link to it."""
    blob = Path(os.path.realpath(path))
    for item in (path, blob):
        try:
            item.unlink()
        except FileNotFoundError:
            pass


def _gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

