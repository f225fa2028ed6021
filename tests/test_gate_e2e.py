"""The confidence gate and acceptance counts through the real server: what is held back and why,
the accept command an item carries, and counts that survive a restart and can be cleared."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from lsprotocol import types

from bench.lsp_client import URI, ask, complete, open_document, session

# The ninth of nine lines the file already spells out: the model is sure of it.
COUNTING = "".join(f"print('step {n}')\n" for n in range(1, 9)) + "print('st"
# A fresh comment after nothing in particular: anything the model writes is a guess.
GUESS = "import os\n\n# "


async def explain(client, line: int, character: int) -> dict:
    return await ask(client, "infill/explain", {"textDocument": {"uri": URI},
                                                "position": {"line": line, "character": character}})


async def test_the_gate_shows_a_sure_suggestion_and_holds_back_a_guess(default_model, tmp_path):
    async with session(default_model, args=("--stats-file", str(tmp_path / "counts.json")), gated=True,
                       options={"completion": {"multiline": "never", "maxTokens": 12}}) as client:
        open_document(client, COUNTING)
        sure = await complete(client, URI, 8, 9)
        assert [item.insert_text for item in sure] == ["ep 9')"]
        assert (await explain(client, 8, 9))["reason"] == "shown"
        open_document(client, GUESS, uri=URI, version=2)
        assert await complete(client, URI, 2, 2) == []
        why = await explain(client, 2, 2)
        assert why["reason"] == "held_back" and "confidence gate" in why["message"], why
        assert why["confidence"] < why["threshold"]
        # 'off' shows it: the gate, not the model, held it back.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"infill": {"completion": {"confidence": "off"}}}))
        assert len(await complete(client, URI, 2, 2)) == 1


async def test_the_gate_reads_the_engines_log_probabilities(fake_model, tmp_path):
    """The fake engine is sure of a long copy and guesses from a short one: the gate shows the
    first and holds back the second, whatever the text."""
    short_match = "value = compute(1)\nresult = comp"
    async with session(fake_model, args=("--stats-file", str(tmp_path / "counts.json")), gated=True,
                       options={"completion": {"multiline": "never"}}) as client:
        open_document(client, COUNTING)  # "')\nprint('st" was there before: a long copy
        assert [item.insert_text for item in await complete(client, URI, 8, 9)] == ["ep 8')"]
        open_document(client, short_match, uri=URI, version=2)  # " = comp": a short one
        assert await complete(client, URI, 1, 13) == []
        why = await explain(client, 1, 13)
        assert why["reason"] == "held_back" and why["confidence"] < why["threshold"], why
        status = await ask(client, "infill/status", {})
        assert [(row["shown"], row["heldBack"]) for row in status["acceptance"]] == [(1, 1)]


async def test_an_accepted_item_is_counted_and_the_counts_survive_a_restart(fake_model, tmp_path):
    counts = tmp_path / "counts.json"
    args = ("--stats-file", str(counts))
    async with session(fake_model, args=args, options={"completion": {"multiline": "never"}}) as client:
        open_document(client, COUNTING)
        item, = await complete(client, URI, 8, 9)
        # What the editor runs on acceptance (LSP 3.18 InlineCompletionItem.command).
        assert item.command.command == "infill.accepted"
        assert item.command.arguments[0]["chars"] == len(item.insert_text)
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=item.command.command, arguments=item.command.arguments))
        row, = (await ask(client, "infill/status", {}))["acceptance"]
        assert (row["language"], row["model"], row["accepted"]) == ("python", fake_model, 1), row
    async with session(fake_model, args=args) as client:
        row, = (await ask(client, "infill/status", {}))["acceptance"]
        assert (row["shown"], row["accepted"], row["acceptedChars"]) == (1, 1, len(item.insert_text))
    stats = [sys.executable, "-m", "infill_lsp", "stats", "--stats-file", str(counts)]
    shown = subprocess.run([*stats, "--json"], capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout)["counts"][0]["accepted"] == 1
    words = subprocess.run(stats, capture_output=True, text=True, check=True).stdout
    assert re.search(r"shown 1, accepted 1 whole", words), words
    subprocess.run([*stats, "--clear"], capture_output=True, text=True, check=True)
    assert "no suggestions shown yet" in subprocess.run(stats, capture_output=True, text=True, check=True).stdout


async def test_a_malformed_accept_command_is_an_error_and_the_server_goes_on(fake_model, tmp_path):
    async with session(fake_model, args=("--stats-file", str(tmp_path / "counts.json"))) as client:
        with pytest.raises(Exception, match="infill.accepted needs"):  # the JSON-RPC error it answers with
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="infill.accepted", arguments=["seven"]))
        open_document(client, COUNTING)
        assert len(await complete(client, URI, 8, 9)) == 1
