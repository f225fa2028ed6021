"""Stdout hygiene on stdio, and the terminal commands a new user tries first."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.jsonrpc_pipe import PipeClient

NOISY_SERVER = """
import os, sys
import infill_lsp.engine.models as models
real = models.LlamaEngine
def noisy(*args, **kwargs):
    print("stray print while loading")
    os.write(1, b"stray native bytes on fd 1\\n")
    return real(*args, **kwargs)
models.LlamaEngine = noisy
from infill_lsp.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infill_lsp", *args], capture_output=True, text=True, timeout=timeout)


def test_stray_prints_and_native_writes_never_reach_the_protocol_stream(fake_model):
    client = PipeClient(command=[sys.executable, "-c", NOISY_SERVER, "--model", str(fake_model), "-vv"])
    try:
        client.initialize()
        client.open("file:///t.py", "def double(x):\n    return ")
        client.inline(1, "file:///t.py", 1, 11)
        assert "result" in client.response(1)  # every byte before it parsed as a clean frame
    finally:
        client.close()
    assert all(message.get("jsonrpc") == "2.0" for message in client.seen)


def test_complete_streams_a_suggestion_and_prints_timings(default_model):
    result = run_cli("complete", "examples/fibonacci.py", "--line", "5", "--character", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "mode: prefix-only" in result.stderr
    assert "first token" in result.stderr and "tokens/s" in result.stderr


def test_prompt_json_shows_codellama_tokens(codellama_model, tmp_path):
    source = tmp_path / "remove.py"
    source.write_text('def remove_non_ascii(s: str) -> str:\n    """ \n    return result\n')
    result = run_cli("prompt", str(source), "--line", "2", "--character", "9", "--json",
                     "--fim-order", "psm", "--model", str(codellama_model))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mode"] == "fim-psm"
    ids = [token["id"] for token in data["tokens"]]
    assert ids[:2] == [1, 32007] and 32008 in ids and ids[-1] == 32009
    assert data["tokens"][1]["piece"].endswith("<PRE>")


def test_prompt_text_lists_every_token(fake_model):
    result = run_cli("prompt", "examples/fibonacci.py", "--line", "5", "--character", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mode: prefix-only\nreason: ")
    assert "' return'" in result.stdout


def test_check_reports_model_facts_and_speed(starcoder_model):
    result = run_cli("check", "--model", str(starcoder_model))
    assert result.returncode == 0, result.stderr
    for label in ("architecture:", "context:", "FIM:", "GPU offload:", "prompt speed:", "generation:"):
        assert label in result.stdout
    assert "fim-psm" in result.stdout


def test_bad_model_and_bad_position_give_clear_errors(tmp_path):
    missing = run_cli("complete", "examples/fibonacci.py", "--line", "1", "--character", "1", "--model",
                      str(tmp_path / "no.gguf"))
    assert missing.returncode == 2 and "could not load the model" in missing.stderr and "--model" in missing.stderr
    outside = run_cli("complete", "examples/fibonacci.py", "--line", "99", "--character", "1")
    assert outside.returncode == 2 and "outside the file" in outside.stderr
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    assert "looks binary" in run_cli("prompt", str(binary), "--line", "1", "--character", "1").stderr


def test_tcp_refuses_non_loopback_hosts():
    result = run_cli("--tcp", "--host", "0.0.0.0", "--port", "0", timeout=30)
    assert result.returncode == 2 and "--allow-remote" in result.stderr


def test_readme_demo_completes_with_a_function_from_another_file():
    result = run_cli("complete", "examples/greeter/app.py", "--line", "3", "--character", "21",
                     "--workspace", "examples/greeter")
    assert result.returncode == 0, result.stderr
    assert "greet_user" in result.stdout
    assert "--- context: 2 files" in result.stderr


def test_the_cli_counts_lines_as_the_editor_does():
    from infill_lsp.commands import split_at

    # A form feed ends no line in LSP (str.splitlines would make it one): line 2 is "y = z".
    assert split_at("x = 1\f\ny = z", 2, 6) == ("x = 1\f\ny = z", "")
    assert split_at("a\r\nb\rc\n", 3, 1) == ("a\r\nb\r", "c\n")
