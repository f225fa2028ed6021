"""The context package: file rules, chunking, the index and ranking, on real files."""

from __future__ import annotations

import os
from pathlib import Path

from infill_lsp.context import CursorSnapshot, FileRules, Repository
from infill_lsp.context import repository as repository_module
from infill_lsp.context.chunking import chunk_text
from infill_lsp.context.ignore import WorkspaceFilter, is_secret
from infill_lsp.context.index import RepoIndex, imported_modules
from infill_lsp.context.ranking import Query, candidates, select
from infill_lsp.context.similar import query_lines, rank_similar

CANARY = "CANARY-7f3a9c"


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def test_rules_skip_secrets_ignored_vendored_binary_huge_and_generated(tmp_path):
    write(tmp_path, {
        "src/app.py": "def main():\n    pass\n",
        ".env": f"TOKEN={CANARY}", ".env.local": CANARY, "keys/server.pem": CANARY, "id_rsa": CANARY,
        "config/secrets.yaml": CANARY, "build/out.py": CANARY, "node_modules/x/index.js": CANARY,
        ".venv/lib/site.py": CANARY, ".git/config": CANARY, "logs/debug.log": CANARY,
        ".gitignore": "logs/\n*.tmp\n", "notes.tmp": CANARY, "pkg/.gitignore": "local_settings.py\n",
        "pkg/local_settings.py": CANARY, "pkg/ok.py": "x = 1\n", "private/a.py": CANARY,
        ".infillignore": "private/\n", "blob.bin": b"\x00\x01" + CANARY.encode(),
        "big.py": "x = 1\n" * 300_000, "gen.py": f"# @generated\n{CANARY}\n", "app.min.js": CANARY,
        "config.py": f"KEY = '{CANARY}'\nAWS = 'AKIAABCDEFGHIJKLMNOP'\n",
        "deploy.py": f"# {CANARY}\nPEM = '-----BEGIN RSA PRIVATE KEY-----'\n",
        "client.py": f"# {CANARY}\nTOKEN = 'ghp_{'a' * 36}'\n",
    })
    found = sorted(p.relative_to(tmp_path).as_posix() for p in WorkspaceFilter(tmp_path).walk())
    readable = [p for p in found if WorkspaceFilter(tmp_path).read_text(tmp_path / p) is not None]
    assert readable == ["pkg/ok.py", "src/app.py"]


def test_user_include_and_exclude_globs(tmp_path):
    write(tmp_path, {"src/a.py": "a = 1\n", "src/b.sql": "select 1;\n", "docs/c.py": "c = 1\n"})
    rules = FileRules(include=("src/",), exclude=("*.sql",))
    assert [p.name for p in WorkspaceFilter(tmp_path, rules).walk()] == ["a.py"]


def test_symlinks_out_of_the_workspace_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    workspace = tmp_path / "ws"
    write(outside, {"leak.py": f"SECRET = '{CANARY}'\n"})
    write(workspace, {"main.py": "x = 1\n"})
    os.symlink(outside / "leak.py", workspace / "link.py")
    os.symlink(outside, workspace / "linked_dir")
    repository = Repository()
    repository.add_folder(workspace)
    repository.index_all()
    assert repository.index.paths() == ["main.py"]


def test_secret_names():
    for name in (".env", ".env.production", "id_ed25519", "server.key", "client_secret.json", "credentials.json"):
        assert is_secret(name), name
    for name in ("app.py", "environment.py", "keyboard.py"):
        assert not is_secret(name), name


def test_chunks_follow_definitions_and_methods_of_large_classes():
    methods = "".join(f"    def method_{i}(self):\n" + "        x = 1\n" * 8 for i in range(10))
    source = "import os\n\n\ndef top(a):\n    return a\n\n\nclass Big:\n    '''Doc.'''\n\n" + methods
    chunks = chunk_text("m.py", source)
    defined = [sorted(c.defines) for c in chunks]
    assert ["top"] in defined and ["Big"] in defined
    assert ["method_3"] in defined
    assert all(c.end_line - c.start_line <= 80 for c in chunks)
    assert "".join(c.text for c in sorted(chunks, key=lambda c: c.start_line)).startswith("import os")


def test_files_without_grammar_are_cut_into_windows():
    chunks = chunk_text("notes.txt", "line\n" * 100)
    assert [(c.start_line, c.end_line) for c in chunks] == [(0, 40), (40, 80), (80, 100)]


def test_index_is_incremental_and_bm25_ranks_the_matching_chunk_first():
    index = RepoIndex()
    index.update_file("a.py", "def parse_invoice(text):\n    return text\n")
    index.update_file("b.py", "def render_page(html):\n    return html\n")
    assert index.bm25(["parse_invoice"])[0].path == "a.py"
    index.update_file("a.py", "def other():\n    pass\n")
    assert index.bm25(["parse_invoice"]) == []
    assert index.definitions_of({"render_page"})[0].path == "b.py"
    index.remove_file("b.py")
    assert index.paths() == ["a.py"] and index.chunk_count() == 1


def test_imports_are_resolved_to_indexed_files():
    assert imported_modules("from pkg.util import x\nimport os\n") == ["pkg.util", "os"]
    assert imported_modules("import { a } from './lib/math';\n") == ["./lib/math"]
    index = RepoIndex()
    for path in ("pkg/util.py", "web/lib/math.ts", "web/app.ts"):
        index.update_file(path, "x = 1\n")
    assert index.resolve_import("pkg/main.py", "pkg.util") == "pkg/util.py"
    assert index.resolve_import("web/app.ts", "./lib/math") == "web/lib/math.ts"
    assert index.resolve_import("pkg/main.py", "os") is None


def test_ranking_skips_the_local_window_and_fills_the_budget_exactly():
    index = RepoIndex()
    index.update_file("cur.py", "def helper():\n    return 1\n\n\n" + "x = 1\n" * 50)
    index.update_file("defs.py", "def compute_tax(amount):\n    return amount * 0.2\n")
    index.update_file("noise.py", "def unrelated():\n    pass\n")
    query = Query("cur.py", "total = compute_tax(price) + helper()", window=(0, 3))
    ranked = candidates(index, query)
    assert ranked[0].path == "defs.py"
    assert all(not (c.path == "cur.py" and c.start_line < 3) for c in ranked)
    costs = {c.key: len(c.text) for c in ranked}
    chosen = select(ranked, budget=costs[ranked[0].key], cost=lambda c: costs[c.key])
    assert [c.path for c in chosen] == ["defs.py"]
    assert sum(costs[c.key] for c in chosen) <= costs[ranked[0].key]


def test_code_that_reads_like_the_lines_before_the_cursor_ranks_first():
    # The user is writing the same setup as in report.py; the line that follows it there
    # (console.print) is the line they are about to write.
    index = RepoIndex()
    index.update_file("report.py", (
        "def show_users(users):\n"
        "    table = Table(title='Users')\n"
        "    table.add_column('name')\n"
        "    for user in users:\n"
        "        table.add_row(user.name)\n"
        "    console.print(table)\n"
    ))
    index.update_file("tables.py", "class Table:\n    def add_column(self, title):\n        pass\n")
    index.update_file("noise.py", "def table_count(tables):\n    return len(tables)\n")
    before = "def show_teams(teams):\n    table = Table(title='Teams')\n    table.add_column('name')\n" \
             "    for team in teams:\n        table.add_row(team.name)\n    "
    ranked = [c.path for c in rank_similar(query_lines(before), [index.file(p).chunks[0] for p in index.paths()])]
    assert ranked[0] == "report.py" and "noise.py" not in ranked


def test_similar_code_comes_first_even_when_its_names_are_too_short_to_search_for():
    index = RepoIndex()
    index.update_file("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n\n\n"
                                  "def peak(xs):\n    m = 0\n    for x in xs:\n        if x > m:\n"
                                  "            m = x\n    return m\n")
    before = "def best(ys):\n    m = 0\n    for y in ys:\n        if y > m:\n            "
    plain = candidates(index, Query("cur.py", before, window=(0, 5), recent=("stats.py",)))
    assert [c.defines for c in plain] == [{"mean"}, {"peak"}]  # file order: nothing to search for
    query = Query("cur.py", before, window=(0, 5), recent=("stats.py",), before_cursor=before)
    assert [c.defines for c in candidates(index, query)] == [{"peak"}, {"mean"}]


def test_unsaved_buffer_text_wins_over_disk(tmp_path):
    write(tmp_path, {"a.py": "def on_disk():\n    pass\n"})
    repository = Repository()
    repository.add_folder(tmp_path)
    repository.index_all()
    repository.set_buffer(tmp_path / "a.py", "def in_editor():\n    pass\n", edited=True)
    snippets = repository.gather(CursorSnapshot.of("in_editor()", "", tmp_path / "b.py"), (0, 1))
    assert [s.text for s in snippets] == ["def in_editor():\n    pass\n"]
    repository.close_buffer(tmp_path / "a.py")
    snippets = repository.gather(CursorSnapshot.of("on_disk()", "", tmp_path / "b.py"), (0, 1))
    assert [s.text for s in snippets] == ["def on_disk():\n    pass\n"]


def test_typing_in_a_line_ranks_once_even_as_the_document_is_rechunked(tmp_path, monkeypatch):
    # The indexer re-chunks the edited document at each pause in typing; that alone must not
    # make the next keystroke rank the repository again (the slow part of a gather).
    (tmp_path / "helpers.py").write_text("def parse_remote_config(path):\n    return path\n")
    (tmp_path / "app.py").write_text("import helpers\n\n")
    repository = Repository()
    repository.add_folder(tmp_path)
    repository.index_all()
    rankings = []
    real = repository_module.candidates
    monkeypatch.setattr(repository_module, "candidates", lambda index, query: rankings.append(query) or real(index,
                                                                                                             query))
    app = tmp_path / "app.py"
    before = "import helpers\n\nvalue = helpers.parse"
    for typed in ("", "_re", "_remote"):
        repository.set_buffer(app, before + typed + "\n", edited=True)
        repository.flush_buffers()  # what the indexer thread does after a pause
        chosen = repository.gather(CursorSnapshot.of(before + typed, "\n", app), (0, 3))
        assert any("def parse_remote_config" in snippet.text for snippet in chosen)
    assert len(rankings) == 1
    repository.gather(CursorSnapshot.of(before + "_remote\n", "", app), (0, 4))
    assert len(rankings) == 2, "a new line is ranked again"
