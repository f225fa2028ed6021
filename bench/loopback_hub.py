"""A loopback stand-in for the Hugging Face hub: the part of its HTTP protocol that the real
huggingface_hub client uses to download one file, so tests drive the real client.

``HEAD`` and ``GET`` on ``/{owner}/{repo}/resolve/{revision}/{file}``: the commit, the
published SHA-256 (``X-Linked-Etag``, as for LFS files), the size, and byte ranges for a resumed
transfer. A file can be served with another published digest (a corrupted mirror), a larger
advertised size (a file the disk has no room for), or cut off once after some bytes (a broken
connection).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY_REPO, TINY_FILE = "infill-test/tiny-fim-GGUF", "tiny-fim.Q8_0.gguf"
_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/[^/]+/(?P<file>.+)$")


@dataclass
class HostedFile:
    data: bytes
    published_sha256: str
    advertised_size: int
    cut_after: int | None = None
    """Close the connection after this many body bytes, once."""
    starts: list[int] = field(default_factory=list)
    """Where each GET started (its ``Range``)."""


class LoopbackHub:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str], HostedFile] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hosted = self._hosted()
                if hosted is not None:
                    self._head(hosted, 200, len(hosted.data))
                    self.end_headers()

            def do_GET(self) -> None:
                hosted = self._hosted()
                if hosted is None:
                    return
                start = int(re.match(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-")).group(1))
                hosted.starts.append(start)
                body = hosted.data[start:]
                self._head(hosted, 206 if start else 200, len(body))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(hosted.data) - 1}/{len(hosted.data)}")
                self.end_headers()
                if hosted.cut_after is not None:
                    self.wfile.write(body[:hosted.cut_after])
                    hosted.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def _hosted(self) -> HostedFile | None:
                match = _PATH.match(self.path.split("?")[0])
                hosted = hub.files.get((match["repo"], match["file"])) if match else None
                if hosted is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                return hosted

            def _head(self, hosted: HostedFile, status: int, length: int) -> None:
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hosted.published_sha256}"')
                self.send_header("X-Linked-Etag", f'"{hosted.published_sha256}"')
                self.send_header("X-Linked-Size", str(hosted.advertised_size))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def host(self, repo: str, file: str, data: bytes, *, published_sha256: str | None = None,
             advertised_size: int | None = None, cut_after: int | None = None) -> HostedFile:
        hosted = HostedFile(data, published_sha256 or hashlib.sha256(data).hexdigest(),
                            advertised_size or len(data), cut_after)
        self.files[(repo, file)] = hosted
        return hosted

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def team_environment(hub: LoopbackHub, folder: Path, model: bytes) -> dict[str, str]:
    """Variables for a process that downloads from ``hub`` into a fresh cache under ``folder``,
    with a team catalog (``$INFILL_CATALOG``) naming ``model`` as ``tiny-fim`` (reviewed: its
    digest and size) and ``tiny-unreviewed`` (neither)."""
    entry = {"name": "tiny-fim", "repo": TINY_REPO, "file": TINY_FILE, "quantization": "Q8_0",
             "parameters_b": 0.001, "context": 2048, "fim": "psm", "license": "MIT", "hardware": "CPU",
             "sha256": hashlib.sha256(model).hexdigest(), "size_bytes": len(model), "verified": True}
    unreviewed = {**entry, "name": "tiny-unreviewed", "sha256": None, "size_bytes": None, "verified": False}
    catalog = folder / "team-catalog.json"
    catalog.write_text(json.dumps({"models": [entry, unreviewed]}))
    return {"HF_HOME": str(folder / "hf"), "HF_ENDPOINT": hub.url, "INFILL_CATALOG": str(catalog),
            "HF_HUB_DISABLE_TELEMETRY": "1"}
