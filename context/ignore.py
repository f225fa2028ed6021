"""Which files of a workspace may be indexed, and so may ever reach a prompt.

Rules, in order: never leave the workspace (symlinks included); never secrets; never
``.git``, dependency, virtualenv or build folders; the user's exclude globs; ``.gitignore``
and ``.infillignore`` at every level; the user's include globs; then size, binary and
generated-code checks on the content.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", ".env", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tox", ".nox", "site-packages", "dist", "build", "target", "vendor",
    "third_party", ".idea", ".vscode", ".cache", "bower_components", ".gradle", ".next", ".terraform",
})
SECRET_PATTERNS = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa*", "id_dsa*",
    "id_ecdsa*", "id_ed25519*", "*.kdbx", ".netrc", ".npmrc", ".pypirc", ".htpasswd", "credentials*",
    "*secret*", "*.tfstate", "*.tfvars", ".git-credentials", "*.gpg", "*.asc",
)
GENERATED_PATTERNS = ("*.min.js", "*.min.css", "*.map", "*.lock", "package-lock.json", "*.pb.go", "*_pb2.py", "*.svg")
IGNORE_FILES = (".gitignore", ".infillignore")
# Content that means "this file holds a credential", whatever its name.
SECRET_CONTENT = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|aws_secret_access_key\s*[=:]"
    r"|\bgh[pousr]_[A-Za-z0-9]{36}\b"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bsk-[A-Za-z0-9_-]{20,}"
    r"|\bAIza[0-9A-Za-z_-]{35}\b",
    re.IGNORECASE,
)
_SNIFF_BYTES = 8192


def is_secret(name: str) -> bool:
    """Whether a file name looks like it holds credentials or keys."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in SECRET_PATTERNS)


@dataclass(frozen=True)
class FileRules:
    """The user-tunable part of the rules."""

    max_file_bytes: int = 1_000_000
    include: tuple[str, ...] = ()
    """Globs (relative to the workspace) a file must match, if any are given."""
    exclude: tuple[str, ...] = ()
    """Globs (relative to the workspace) that are never indexed."""


@dataclass
class WorkspaceFilter:
    """Decides, for one workspace folder, which files are indexable."""

    root: Path
    rules: FileRules = field(default_factory=FileRules)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self._exclude = pathspec.GitIgnoreSpec.from_lines(self.rules.exclude)
        self._include = pathspec.GitIgnoreSpec.from_lines(self.rules.include) if self.rules.include else None
        self._ignores: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def inside(self, path: Path) -> bool:
        """Whether ``path`` (symlinks resolved) lies within the workspace."""
        try:
            path.resolve().relative_to(self.root)
            return True
        except (ValueError, OSError):
            return False

    def _ignore_spec(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._ignores:
            lines: list[str] = []
            for name in IGNORE_FILES:
                try:
                    lines += (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    pass
            self._ignores[folder] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._ignores[folder]

    def forget_ignore_file(self, folder: Path) -> None:
        """Re-read a folder's ignore files next time (one of them changed)."""
        self._ignores.pop(folder, None)

    def _ignored(self, path: Path, is_dir: bool, *, by_settings: bool = True) -> bool:
        relative = path.relative_to(self.root).as_posix()
        if by_settings and self._exclude.match_file(relative + ("/" if is_dir else "")):
            return True
        folder = path.parent
        while True:
            spec = self._ignore_spec(folder)
            if spec is not None:
                local = path.relative_to(folder).as_posix() + ("/" if is_dir else "")
                if spec.match_file(local):
                    return True
            if folder == self.root or self.root not in folder.parents:
                return False
            folder = folder.parent

    def allows_dir(self, path: Path) -> bool:
        """Whether to descend into a folder."""
        if path.name in SKIPPED_DIRS or path.is_symlink():
            return False
        return not self._ignored(path, is_dir=True)

    def allows_path(self, path: Path) -> bool:
        """Name- and location-based checks only (no reading)."""
        if is_secret(path.name) or path.name in IGNORE_FILES or not self.inside(path):
            return False
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if any(part in SKIPPED_DIRS for part in relative.parts[:-1]):
            return False
        if any(fnmatch.fnmatchcase(path.name.lower(), pattern) for pattern in GENERATED_PATTERNS):
            return False
        if self._include is not None and not self._include.match_file(relative.as_posix()):
            return False
        return not self._ignored(path, is_dir=False)

    def private(self, path: Path) -> bool:
        """Whether the file's text must never reach a prompt: a secret, or ignored by .gitignore or
        .infillignore (``infill_lsp.context.exclude`` only keeps a file out of the index)."""
        if is_secret(path.name):
            return True
        if not self.inside(path):
            return False
        return self._ignored(path, is_dir=False, by_settings=False)

    def read_text(self, path: Path) -> str | None:
        """The file's text if it passes every rule (size, binary, generated), else None."""
        if not self.allows_path(path):
            return None
        try:
            if path.stat().st_size > self.rules.max_file_bytes:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        return text_if_source(data)

    def allows_folder(self, folder: Path) -> bool:
        """Whether the walk from the root reaches ``folder`` (no skipped or ignored folder on the way)."""
        try:
            parts = folder.relative_to(self.root).parts
        except ValueError:
            return False
        return all(self.allows_dir(self.root.joinpath(*parts[:depth])) for depth in range(1, len(parts) + 1))

    def walk(self, below: Path | None = None, walked: set[Path] | None = None, *,
             recursive: bool = True) -> Iterator[Path]:
        """Every indexable candidate below the root (or below one of its folders), without
        following symlinked folders; ``walked`` collects the folders entered."""
        for folder, dirs, files in os.walk(below or self.root, followlinks=False):
            here = Path(folder)
            if walked is not None:
                walked.add(here)
            dirs[:] = sorted(d for d in dirs if self.allows_dir(here / d)) if recursive else []
            for name in sorted(files):
                path = here / name
                if self.allows_path(path):
                    yield path


def text_if_source(data: bytes) -> str | None:
    """Decode source code; None for binary, minified, generated or credential-bearing content."""
    head = data[:_SNIFF_BYTES]
    if b"\0" in head:
        return None
    text = data.decode("utf-8", errors="replace")
    first_lines = text[:2000]
    if "@generated" in first_lines or "DO NOT EDIT" in first_lines:
        return None
    if SECRET_CONTENT.search(text):
        return None
    lines = text.count("\n") + 1
    if len(text) > 5000 and len(text) / lines > 300:  # minified: few, very long lines
        return None
    return text
