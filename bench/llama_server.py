"""A real llama-server for tests and benchmarks: built once per machine, started on loopback.

It is built from the llama.cpp tree inside the sdist of the pinned llama-cpp-python, so the
server and the in-process engine run the same llama.cpp. The binary is kept in the user's cache
folder under the version (``~/.cache/infill/llama-server-0.3.36/llama-server``), outside any
clone, so a machine builds it once (about 11 minutes on 2 cores).

    python -m bench.llama_server build    # build if missing; prints the path
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PACKAGE = "llama-cpp-python"
CMAKE_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
               "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
               "-DLLAMA_BUILD_EXAMPLES=OFF", "-DGGML_NATIVE=ON"]


def pinned_version() -> str:
    """The llama-cpp-python version installed here (the one pyproject.toml pins)."""
    return importlib.metadata.version(PACKAGE)


def cached_binary(version: str | None = None) -> Path:
    """Where the llama-server of ``version`` is kept on this machine."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "infill" / f"llama-server-{version or pinned_version()}" / "llama-server"


def build(version: str | None = None) -> Path:
    """The cached binary, built first if this machine has none."""
    version = version or pinned_version()
    target = cached_binary(version)
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="llama-server-build-") as scratch:
        work = Path(scratch)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"{PACKAGE}=={version}", "-d", str(work)], check=True)
        archive = next(work.glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        tree = next(work.glob("llama_cpp_python-*")) / "vendor" / "llama.cpp"
        subprocess.run(["cmake", "-S", str(tree), "-B", str(work / "build"), *CMAKE_FLAGS], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", str(work / "build"), "--target", "llama-server", "-j",
                        str(os.cpu_count() or 2)], check=True, stdout=subprocess.DEVNULL)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(work / "build" / "bin" / "llama-server", partial)
        partial.replace(target)  # whole or absent: an interrupted build leaves nothing half-written
    return target


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """One llama-server process on a loopback port; ``stop`` and ``start`` again keep the port.
    The binary: ``binary``, else ``$LLAMA_SERVER``, else the cached build."""

    def __init__(self, model: Path | str, *, args: list[str] = (), log: Path, binary: Path | None = None,
                 port: int | None = None) -> None:
        self.binary = binary or Path(os.environ.get("LLAMA_SERVER") or cached_binary())
        if not self.binary.is_file():
            raise FileNotFoundError(f"no llama-server at {self.binary}: run `python -m bench.llama_server build` "
                                    "(make test does)")
        self.model, self.args, self.log = str(model), list(args), log
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120) -> LlamaServer:
        command = [str(self.binary), "-m", self.model, "--host", "127.0.0.1", "--port", str(self.port),
                   "--no-webui", *self.args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama-server did not become healthy in {timeout_s:.0f} s; see {self.log}")

    def stop(self, *, kill: bool = False) -> None:
        """End the process (``kill``: at once, as a crash would)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m bench.llama_server build")
    print(build())
