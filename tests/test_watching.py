"""Keeping the index equal to the disk: what is watched, what costs work, lost events, bursts.

Real inotify watches and real files; the only simulated thing is the kernel's queue overflow,
which is delivered through the same entry point the inotify reader calls.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infill_lsp.context import Repository
from infill_lsp.context.upkeep import INDEXER_NICENESS, RescanPacer

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")

WORKSPACE = {
    "src/pkg/a.py": "def alpha():\n    return 1\n",
    "src/pkg/sub/b.py": "def beta():\n    return 2\n",
    "deep/a/c.py": "def gamma():\n    return 3\n",
    ".venv/lib/python3.11/site.py": "def in_venv():\n    pass\n",
    "node_modules/left-pad/index.js": "module.exports = function leftPad() {}\n",
    ".git/objects/ab/cdef": "blob",
    ".git/HEAD": "ref: refs/heads/main\n",
    "build/out.py": "def built():\n    pass\n",
    ".gitignore": "logs/\n",
    "logs/debug.py": "def logged():\n    pass\n",
    ".infillignore": "private/\n",
    "private/p.py": "def hidden():\n    pass\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
}


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def inotify_watches() -> int:
    """Watches this process holds in the kernel, read from /proc (not from our own bookkeeping)."""
    count = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            count += Path(f"/proc/self/fdinfo/{fd}").read_text().count("inotify wd:")
        except OSError:
            continue
    return count


def wait_until(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def started(root: Path, **kwargs) -> Repository:
    repository = Repository()
    repository.add_folder(root)
    repository.start(**kwargs)
    assert repository.indexing_done.wait(60)
    assert wait_until(lambda: repository.upkeep.stats.watches > 0 or repository.upkeep.polling)
    settle(repository)
    return repository


def settle(repository: Repository) -> None:
    """Wait until nothing is queued and no event has come for a while (a server that keeps
    reacting to its own reads never settles)."""
    stats = repository.upkeep.stats
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = stats.events
        time.sleep(0.4)
        if stats.events == seen and stats.pending == 0:
            return
    raise AssertionError(f"the index never settled: {stats}")


@pytest.fixture
def repository(tmp_path):
    """A repository indexing and watching a workspace of WORKSPACE's files."""
    write(tmp_path, WORKSPACE)
    repository = started(tmp_path)
    yield repository
    repository.stop()


def defined(repository: Repository) -> set[str]:
    index = repository.index
    return {name for key in index.paths() for chunk in index.file(key).chunks for name in chunk.defines}


@linux_only
def test_only_folders_holding_indexed_files_and_their_ancestors_are_watched(tmp_path):
    write(tmp_path, WORKSPACE)
    before = inotify_watches()
    repository = started(tmp_path)
    try:
        expected = {tmp_path, tmp_path / "src", tmp_path / "src/pkg", tmp_path / "src/pkg/sub",
                    tmp_path / "deep", tmp_path / "deep/a"}
        assert repository.upkeep.watcher.watched() == {p.resolve() for p in expected}
        assert inotify_watches() - before == len(expected)
    finally:
        repository.stop()
    assert wait_until(lambda: inotify_watches() == before)


@linux_only
def test_reading_the_whole_workspace_gives_the_index_no_work(repository, tmp_path):
    stats = repository.upkeep.stats
    events, batches = stats.events, stats.batches
    for _ in range(3):  # what a search tool, a linter or the server's own rescan does
        for folder, _dirs, files in os.walk(tmp_path):
            for name in files:
                (Path(folder) / name).read_bytes()
    # A write after the reads: once the index has it, every event the reads caused came before.
    write(tmp_path, {"src/pkg/marker.py": "def marker():\n    pass\n"})
    assert wait_until(lambda: "marker" in defined(repository))
    assert stats.batches - batches == 1, "only the marker's write made work"
    assert stats.events - events <= 3, "(its create, modify and close-write events at the most)"


@linux_only
def test_lost_events_cause_one_rescan_that_finds_what_they_missed(repository, tmp_path):
    # assets/ holds no indexed file, so it is not watched: only a rescan can find this file.
    write(tmp_path, {"assets/found_later.py": "def found_by_rescan():\n    pass\n"})
    write(tmp_path, {"src/pkg/marker.py": "def marker():\n    pass\n"})  # a watched folder, written after
    assert wait_until(lambda: "marker" in defined(repository))
    assert "found_by_rescan" not in defined(repository)
    for _ in range(5):  # one overflow after another, as a storm of events delivers them
        repository.upkeep.watcher.on_queue_overflow()
    assert wait_until(lambda: "found_by_rescan" in defined(repository))
    settle(repository)
    assert repository.upkeep.stats.rescans == 1
    assert repository.upkeep.stats.overflows == 5


def test_rescans_after_repeated_overflows_are_spaced_by_a_growing_delay():
    pacer = RescanPacer(shortest=2, longest=16)
    assert pacer.wait_before(0) == 0
    starts, now = [], 0.0
    for _ in range(6):  # overflows keep coming: each rescan runs as soon as it may
        now += pacer.wait_before(now)
        starts.append(now)
        pacer.ran(now)
    assert starts == [0, 2, 6, 14, 30, 46]
    now += 100  # a quiet spell
    assert pacer.wait_before(now) == 0
    pacer.ran(now)
    assert pacer.delay == 2


@linux_only
def test_created_moved_deleted_and_newly_ignored_files_reach_the_index(repository, tmp_path):
    write(tmp_path, {"new/pkg/deeper/d.py": "def delta():\n    pass\n"})
    assert wait_until(lambda: "delta" in defined(repository))
    (tmp_path / "src/pkg").rename(tmp_path / "src/renamed")
    assert wait_until(lambda: "src/renamed/sub/b.py" in repository.index.paths()
                      and "src/pkg/a.py" not in repository.index.paths())
    write(tmp_path, {"src/renamed/sub/e.py": "def epsilon():\n    pass\n"})  # watched at its new path
    assert wait_until(lambda: "epsilon" in defined(repository))
    (tmp_path / ".gitignore").write_text("logs/\nnew/\n")
    assert wait_until(lambda: "delta" not in defined(repository))
    (tmp_path / "deep/a/c.py").unlink()
    assert wait_until(lambda: "gamma" not in defined(repository))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@linux_only
def test_a_branch_switch_of_thousands_of_files_leaves_the_index_equal_to_the_disk(tmp_path):
    old = {f"m{i % 30}/f{i}.py": f"def f{i}_old():\n    return {i}\n" for i in range(1500)}
    new = {name: text.replace("_old", "_new") for name, text in list(old.items())[:1000]}
    new |= {f"added{i % 10}/g{i}.py": f"def g{i}_new():\n    return {i}\n" for i in range(250)}
    write(tmp_path, old)
    git(tmp_path, "init", "-q", "-b", "old")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "old")
    git(tmp_path, "checkout", "-q", "-b", "new")
    for name in list(old)[1250:]:
        (tmp_path / name).unlink()
    write(tmp_path, new)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "new")
    repository = started(tmp_path)
    try:
        git(tmp_path, "checkout", "-q", "old")
        fresh = Repository()
        fresh.add_folder(tmp_path)
        fresh.index_all()
        assert len(fresh.index) == 1500
        assert wait_until(lambda: repository.index.fingerprint() == fresh.index.fingerprint(), 60)
        assert defined(repository) == {f"f{i}_old" for i in range(1500)}
        assert repository.upkeep.stats.rescans == 0
    finally:
        repository.stop()


def test_when_watches_are_refused_the_folders_of_open_files_are_polled_and_the_user_told_once(
        tmp_path, monkeypatch):
    import infill_lsp.context.upkeep as upkeep

    class RefusingWatcher:
        def watch(self, folders):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        def watched(self):
            return set()

        def stop(self):
            pass

    monkeypatch.setattr(upkeep, "start_watching", lambda sink, roots: RefusingWatcher())
    monkeypatch.setattr(upkeep, "POLL_SECONDS", 0.1)
    write(tmp_path, {"pkg/a.py": "def first():\n    pass\n"})
    warnings: list[str] = []
    repository = Repository()
    repository.add_folder(tmp_path)
    repository.set_buffer(tmp_path / "pkg/a.py", "def first():\n    pass\n", edited=False)
    repository.start(on_warning=warnings.append)
    try:
        assert repository.indexing_done.wait(30)
        write(tmp_path, {"pkg/b.py": "def polled_function():\n    pass\n"})
        assert wait_until(lambda: repository.index.definitions_of({"polled_function"}), 20)
        (tmp_path / "pkg/b.py").unlink()
        assert wait_until(lambda: not repository.index.definitions_of({"polled_function"}), 20)
        assert len(warnings) == 1 and "max_user_watches" in warnings[0]
    finally:
        repository.stop()


@linux_only
def test_indexing_runs_at_a_lower_priority_than_completions(tmp_path):
    write(tmp_path, WORKSPACE)
    repository = started(tmp_path)
    try:
        indexers = [thread for thread in threading.enumerate() if thread.name == "infill-indexer"]
        ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert indexers and all(os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(19, ours + INDEXER_NICENESS)
                                for thread in indexers)
    finally:
        repository.stop()


@linux_only
def test_a_new_file_in_a_folder_that_held_none_is_indexed_at_once_while_watches_allow(tmp_path):
    write(tmp_path, {f"{name}/m.py": f"def in_{name}():\n    pass\n" for name in ("a", "b", "c", "d")})
    write(tmp_path, {"notes/diagram.png": b"\x89PNG\r\n\x1a\n\x00\x00", "node_modules/x/i.js": "x\n"})
    repository = started(tmp_path)
    try:
        watched = repository.upkeep.watcher.watched()
        assert tmp_path.resolve() / "notes" in watched and len(watched) <= 2 * 4
        write(tmp_path, {"notes/sketch.py": "def sketched():\n    pass\n"})
        assert wait_until(lambda: "sketched" in defined(repository))
        assert repository.upkeep.stats.rescans == 0
    finally:
        repository.stop()


@linux_only
def test_a_file_made_in_a_new_folder_before_its_watch_is_placed_still_reaches_the_index(repository, tmp_path):
    # A folder moved in is read, then watched: a file written between the two reports no event
    # (here written at the last moment before the watch is placed, as a busy machine can do).
    watcher = repository.upkeep.watcher
    place = watcher.watch

    def late_write_then_watch(folders):
        if any(folder.name == "moved" for folder in folders):
            write(tmp_path, {"src/moved/sub/late.py": "def omega():\n    pass\n"})
        place(folders)

    watcher.watch = late_write_then_watch
    (tmp_path / "src/pkg").rename(tmp_path / "src/moved")
    assert wait_until(lambda: "omega" in defined(repository), seconds=10)
