"""Idle cost: what the real server spends on a large workspace while the user does nothing.

Starts the server (stdio, the bundled model) on a workspace, waits for indexing to finish and
the change queue to empty, then measures from ``/proc``: CPU time (all threads) over
``--idle-seconds`` windows, resident memory, the inotify watches the process holds, and the CPU
and wall time spent until the index was ready (model loading included; the ``empty`` workspace
gives that baseline). Scenarios:

- ``stdlib``: this Python's standard-library folder, ``site-packages`` included;
- ``vendored``: a generated repository whose ``.venv`` (a copy of the standard library),
  ``node_modules`` (50,000 files) and ``.git`` hold almost every file;
- ``checkout``: a git repository of 5,000 files; while the server runs, ``git checkout`` to a
  commit that changes all of them. Reports the server's CPU time and the wall time until its
  index fingerprint (``infill/status``) equals that of the new tree, next to the CPU time of
  indexing the new tree from scratch in this process;
- ``empty``: an empty folder;
- ``tree:DIR``: any folder as it is, a real checkout for example.

    python -m bench.idle [--scenario stdlib,vendored,checkout,empty] [--idle-seconds 60]
                         [--source DIR]   # another checkout's server, from its .venv (a before/after)
                         [--editor-watches]  # the client watches files for the server
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from bench.fuzz_client import FuzzClient
from bench.load import rss_kib
from infill_lsp.context import Repository
from infill_lsp.context.ignore import WorkspaceFilter
from infill_lsp.context.index import fingerprint_of
from infill_lsp.engine.models import default_model_path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, every thread


def inotify_watches(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            count += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
        except OSError:
            continue
    return count


def count_files(root: Path) -> int:
    return sum(len(files) for _folder, _dirs, files in os.walk(root))


def server_command(source: Path) -> list[str]:
    """How to start the server of checkout ``source``: this Python for this checkout, else the
    checkout's own virtualenv (``make install`` there), under the import name it uses."""
    if source.resolve() == ROOT:
        return [sys.executable, "-m", "infill_lsp"]
    module = "infill_lsp" if "infill_lsp" in (source / "pyproject.toml").read_text() else "lsp_server"
    return [str(source / ".venv" / "bin" / "python"), "-m", module]


class Server:
    """The real server on one workspace, asked for ``infill/status`` now and then."""

    def __init__(self, workspace: Path, source: Path, log: Path, *, editor_watches: bool = False) -> None:
        self.started = time.monotonic()
        self.client = FuzzClient("--model", default_model_path(), "--threads", "2", "--log-file", str(log),
                                 server=server_command(source))
        self.pid = self.client.process.pid
        self._ids = 0
        uri = workspace.resolve().as_uri()
        # An editor that watches files for its servers, as VS Code does, offers dynamic registration.
        watching = {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}}
        capabilities = watching if editor_watches else {}
        threading.Thread(target=self._answer_requests, daemon=True).start()
        self.request("initialize", {"processId": None, "rootUri": uri, "capabilities": capabilities,
                                    "workspaceFolders": [{"uri": uri, "name": workspace.name}]}, 120)
        self.client.send({"method": "initialized", "params": {}})

    def request(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self._ids += 1
        self.client.send({"id": self._ids, "method": method, **({"params": params} if params is not None else {})})
        assert not self.client.wait_for([self._ids], timeout), f"{method} was not answered"
        return self.client.responses[self._ids].get("result") or {}

    def status(self) -> dict:
        return self.request("infill/status", {})

    def _answer_requests(self) -> None:
        """Accept what the server asks of the editor (``client/registerCapability``), as editors do."""
        while self.client.process.poll() is None:
            try:
                message = self.client.notifications.get(timeout=1)
            except queue.Empty:
                continue
            if "id" in message:
                self.client.send({"id": message["id"], "result": None})

    def wait_until(self, condition, timeout: float = 1800) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if condition(status) or time.monotonic() > deadline:
                return status
            time.sleep(0.2)

    def wait_ready(self) -> float:
        """Seconds from start until indexed with nothing queued."""
        # The fingerprint appears once indexing has begun (servers before it had none: the watches).
        self.wait_until(lambda s: ("indexFingerprint" not in s or s["indexFingerprint"] is not None)
                        and not s.get("indexing", True) and not s.get("pendingChanges", 0))
        return time.monotonic() - self.started

    def close(self) -> None:
        self.client.close()


def idle_windows(pid: int, seconds: float, windows: int) -> list[float]:
    """CPU use in percent of one core, per window."""
    shares = []
    for _ in range(windows):
        before, at = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        shares.append(100 * (cpu_seconds(pid) - before) / (time.monotonic() - at))
    return shares


def measure_idle(name: str, workspace: Path, args) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "server.log"
        server = Server(workspace, args.source, log, editor_watches=args.editor_watches)
        try:
            ready_s = server.wait_ready()
            ready_cpu = cpu_seconds(server.pid)
            status = server.status()
            time.sleep(args.settle_seconds)
            shares = idle_windows(server.pid, args.idle_seconds, args.windows)
            print(f"{name}: {count_files(workspace)} files, {status.get('indexedFiles')} indexed; ready after "
                  f"{ready_s:.1f} s wall, {ready_cpu:.1f} s CPU (model load included)")
            print(f"  idle CPU per {args.idle_seconds:.0f} s window: " + ", ".join(f"{s:.1f}%" for s in shares))
            print(f"  RSS {rss_kib(server.pid) / 1024:.0f} MiB; inotify watches {inotify_watches(server.pid)}; "
                  f"watched folders reported {status.get('watches', 'n/a')}; "
                  f"folders holding indexed files {folders_holding(workspace)}")
        finally:
            server.close()
        overflows = log.read_text(errors="replace").count("overflow") if log.exists() else 0
        print(f"  log lines about queue overflows: {overflows}")


def folders_holding(workspace: Path) -> int:
    rules = WorkspaceFilter(workspace)
    return len({path.parent for path in rules.walk() if rules.read_text(path) is not None})


def make_vendored(root: Path) -> None:
    """Sources, plus .venv, node_modules and .git holding nearly every file."""
    for package in ("lsp_server", "context", "bench"):
        shutil.copytree(ROOT / package, root / "src" / package, ignore=shutil.ignore_patterns("__pycache__"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(stdlib, root / ".venv/lib/python3", ignore=shutil.ignore_patterns("site-packages", "__pycache__"),
                    symlinks=True)
    for package in range(5000):
        folder = root / "node_modules" / f"pkg-{package}" / "lib"
        folder.mkdir(parents=True)
        for index in range(10):
            (folder / f"m{index}.js").write_text(f"module.exports = function f{package}_{index}() {{ return {index}; "
                                                 f"}};\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text(".venv/\nnode_modules/\n")
    git(root, "add", "src", ".gitignore")
    git(root, "commit", "-q", "-m", "sources")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   cwd=root, check=True, capture_output=True)


def checkout(root: Path, args) -> None:
    """A branch switch that rewrites 5,000 files under the running server."""
    def write_tree(version: str) -> None:
        for index in range(5000):
            path = root / f"pkg{index % 50}" / f"mod{index}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"def handler_{index}_{version}(request):\n    return request.value + {index}\n\n\n"
                            f"class Model{index}{version.title()}:\n    size = {index}\n")

    git(root, "init", "-q", "-b", "first")
    write_tree("first")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    git(root, "checkout", "-q", "-b", "second")
    write_tree("second")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "second")
    with tempfile.TemporaryDirectory() as scratch:
        server = Server(root, args.source, Path(scratch) / "server.log", editor_watches=args.editor_watches)
        try:
            server.wait_ready()
            time.sleep(args.settle_seconds)
            before_cpu, started = cpu_seconds(server.pid), time.monotonic()
            git(root, "checkout", "-q", "first")
            switched = time.monotonic() - started
            if args.editor_watches:  # what the editor's watcher reports: every file changed
                changes = [{"uri": path.as_uri(), "type": 2} for path in sorted(root.glob("pkg*/*.py"))]
                server.client.send({"method": "workspace/didChangeWatchedFiles", "params": {"changes": changes}})
            rules = WorkspaceFilter(root)
            expected = fingerprint_of((path.relative_to(rules.root).as_posix(), path.stat().st_mtime)
                                      for path in rules.walk() if rules.read_text(path) is not None)
            status = server.wait_until(lambda s: s.get("indexFingerprint") == expected, 600)
            matched = time.monotonic() - started
            update_cpu = cpu_seconds(server.pid) - before_cpu
        finally:
            server.close()
    engine = Repository()
    engine.add_folder(root)
    from_scratch = time.process_time()
    engine.index_all()
    from_scratch = time.process_time() - from_scratch
    ok = status.get("indexFingerprint") == expected
    print(f"checkout: 5,000 files changed by `git checkout` in {switched:.1f} s; index "
          f"{'matches the new tree' if ok else 'DOES NOT MATCH the new tree'} {matched:.1f} s after the checkout "
          f"began; server CPU {update_cpu:.1f} s; indexing the new tree from scratch here: {from_scratch:.1f} s CPU "
          f"({update_cpu / from_scratch:.2f}x); rescans {status.get('rescans')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="stdlib,vendored,checkout,empty")
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--settle-seconds", type=float, default=5)
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose server to run (from its own .venv)")
    parser.add_argument("--editor-watches", action="store_true",
                        help="the client offers to watch files (didChangeWatchedFiles), as VS Code does")
    args = parser.parse_args()
    queue = Path("/proc/sys/fs/inotify/max_queued_events").read_text().strip()
    print(f"server from {args.source}; editor watches files: {args.editor_watches}; {os.cpu_count()} CPUs; "
          f"inotify queue {queue} events")
    for scenario in args.scenario.split(","):
        with tempfile.TemporaryDirectory(prefix="infill-idle-") as scratch:
            root = Path(scratch) / "workspace"
            root.mkdir()
            if scenario == "stdlib":
                measure_idle(scenario, Path(sysconfig.get_paths()["stdlib"]), args)
            elif scenario == "vendored":
                make_vendored(root)
                measure_idle(scenario, root, args)
            elif scenario == "checkout":
                checkout(root, args)
            elif scenario == "empty":
                measure_idle(scenario, root, args)
            elif scenario.startswith("tree:"):
                measure_idle(scenario, Path(scenario.removeprefix("tree:")), args)
            else:
                parser.error(f"unknown scenario {scenario}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
