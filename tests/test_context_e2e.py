"""Repository context through the real server: completions use code from other files."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from bench.lsp_client import complete, indexed, open_document, session

CASES = [
    ("greetings.py", "def greet_user(name):\n    return f'Hello, {name}!'\n",
     "import greetings\n\nmessage = greetings.", "greet_user"),
    ("storage.py", "class UserRepository:\n    def find_by_email(self, email):\n        ...\n",
     "from storage import UserRepository\n\nrepo = UserRepository()\nuser = repo.", "find_by_email"),
]


@pytest.mark.parametrize(("other_name", "other_text", "current", "symbol"), CASES)
async def test_completion_uses_a_symbol_defined_only_in_another_file(default_model, tmp_path, other_name,
                                                                     other_text, current, symbol):
    (tmp_path / other_name).write_text(other_text)
    app = tmp_path / "app.py"
    app.write_text(current + "\n")
    line, character = current.count("\n"), len(current.split("\n")[-1])
    suggestions = {}
    for budget in (0, 2000):
        async with session(default_model, root=tmp_path, options={"context": {"maxTokens": budget}}) as client:
            await indexed(client)
            open_document(client, current + "\n", uri=app.as_uri())
            items = await complete(client, app.as_uri(), line, character)
            suggestions[budget] = items[0].insert_text if items else ""
    assert symbol not in suggestions[0], "the symbol must come from the other file, not from the model alone"
    assert symbol in suggestions[2000]


async def test_index_follows_saved_files_and_unsaved_buffers(default_model, tmp_path):
    app = tmp_path / "app.py"
    app.write_text("import greetings\n\nmessage = greetings.\n")
    options = {"context": {"maxTokens": 2000}}
    async with session(default_model, root=tmp_path, options=options) as client:
        await indexed(client)
        # A file created after indexing is picked up from the file system.
        (tmp_path / "greetings.py").write_text(CASES[0][1])
        open_document(client, "import greetings\n\nmessage = greetings.\n", uri=app.as_uri())

        async def suggestion() -> str:
            items = await complete(client, app.as_uri(), 2, len("message = greetings."))
            return items[0].insert_text if items else ""

        for _ in range(100):
            if "greet_user" in await suggestion():
                break
        assert "greet_user" in await suggestion()


async def test_an_editor_that_watches_files_is_asked_to_and_the_server_places_no_watch(fake_model, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/old.py").write_text("def old_function():\n    pass\n")
    watching = types.WorkspaceClientCapabilities(
        did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True))
    async with session(fake_model, root=tmp_path, workspace=watching) as client:
        await indexed(client)
        [registration] = client.registrations
        assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES

        async def status() -> dict:
            return (await client.protocol.send_request_async("infill/status", {}))._asdict()  # pygls: a namedtuple

        # Settled: the first walk is checked again once it ends (files saved meanwhile).
        await until(status, lambda s: s["pendingChanges"] == 0)
        assert ((await status())["watches"], (await status())["indexedFiles"]) == (0, 1)
        (tmp_path / "pkg/new.py").write_text("def new_function():\n    pass\n")
        # A file the editor reports, written after that one: once it is in, a watch of the
        # server's own would have brought new.py in before it.
        (tmp_path / "pkg/told.py").write_text("def told():\n    pass\n")
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(tmp_path / "pkg/told.py").as_uri(), type=types.FileChangeType.Created)]))
        await until(status, lambda s: s["indexedFiles"] == 2 and s["pendingChanges"] == 0)
        assert (await status())["indexedFiles"] == 2, "only the editor's events may reach the index"

        def changed(name: str, kind: types.FileChangeType) -> None:
            client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=(tmp_path / name).as_uri(), type=kind)]))

        changed("pkg/new.py", types.FileChangeType.Created)
        await until(status, lambda s: s["indexedFiles"] == 3)
        (tmp_path / "pkg/old.py").unlink()
        changed("pkg/old.py", types.FileChangeType.Deleted)
        await until(status, lambda s: s["indexedFiles"] == 2)


async def until(ask, condition, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition(await ask()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_secrets_are_never_completed_in(fake_model, tmp_path):
    env = tmp_path / ".env"
    env.write_text("API_KEY=")
    async with session(fake_model, root=tmp_path) as client:
        open_document(client, "API_KEY=", uri=env.as_uri())
        assert await complete(client, env.as_uri(), 0, 8) == []
