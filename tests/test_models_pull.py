"""The model catalog and ``infill-lsp pull`` with the real huggingface_hub client, pointed at a
loopback hub (``bench/loopback_hub.py``) that serves a generated tiny GGUF."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.loopback_hub import TINY_FILE as FILE
from bench.loopback_hub import TINY_REPO as REPO
from bench.loopback_hub import LoopbackHub, team_environment

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def hub():
    hub = LoopbackHub()
    yield hub
    hub.close()


@pytest.fixture()
def env(hub, tmp_path, starcoder_model) -> dict[str, str]:
    """A fresh hub cache, the loopback hub as HF_ENDPOINT, and a team catalog naming the tiny model."""
    return {**os.environ, **team_environment(hub, tmp_path, starcoder_model.read_bytes())}


def infill(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infill_lsp", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def cached_files(env: dict[str, str]) -> list[Path]:
    """Model data in the hub cache: blobs (whole or ``.incomplete``) and snapshot links."""
    return [p for p in Path(env["HF_HOME"]).rglob("*")
            if (p.is_file() or p.is_symlink()) and ("blobs" in p.parts or "snapshots" in p.parts)]


def test_pull_downloads_verifies_and_the_name_then_loads(hub, env, starcoder_model):
    hub.host(REPO, FILE, starcoder_model.read_bytes())
    assert infill(env, "--model", "tiny-fim", "check").returncode == 2  # not downloaded yet: never fetched
    pulled = infill(env, "pull", "tiny-fim")
    assert pulled.returncode == 0, pulled.stderr
    assert "downloaded, SHA-256" in pulled.stdout and "verified" in pulled.stdout
    checked = infill(env, "--model", "tiny-fim", "check")
    assert checked.returncode == 0, checked.stderr
    assert "fim-psm" in checked.stdout and "recommended:    qwen2.5-coder" in checked.stdout
    assert "catalog:" not in checked.stdout  # the catalog's FIM order is the loaded vocabulary's
    again = infill(env, "pull", "tiny-fim")
    assert again.returncode == 0 and "already downloaded" in again.stdout
    listed = json.loads(infill(env, "models", "--json").stdout)
    assert next(m for m in listed["models"] if m["name"] == "tiny-fim")["downloaded"]


def test_a_catalog_entry_that_contradicts_the_vocabulary_is_flagged(hub, env, starcoder_model):
    hub.host(REPO, FILE, starcoder_model.read_bytes())
    assert infill(env, "pull", "tiny-fim").returncode == 0
    catalog = Path(env["INFILL_CATALOG"])
    entries = json.loads(catalog.read_text())
    entries["models"][0]["fim"] = "spm"
    catalog.write_text(json.dumps(entries))
    checked = infill(env, "--model", "tiny-fim", "check")
    assert "the catalog lists tiny-fim as spm, the loaded model is psm" in checked.stdout
    assert "fim-psm" in checked.stdout  # the vocabulary decides the layout, not the catalog


def test_the_bundled_model_is_called_weak_and_a_catalog_model_recommended(env):
    checked = infill(env, "check")
    assert "recommended:" in checked.stdout and "without FIM" in checked.stdout


def test_a_broken_connection_is_recovered_by_starting_the_transfer_over(hub, env, starcoder_model):
    data = starcoder_model.read_bytes()
    hosted = hub.host(REPO, FILE, data, cut_after=len(data) // 3)
    pulled = infill(env, "pull", "tiny-fim")
    assert pulled.returncode == 0, pulled.stderr
    # The hub client (2.4) does not resume a broken transfer: it starts over, and the file is whole.
    assert hosted.starts == [0, 0]
    assert "verified" in pulled.stdout


def test_a_file_that_does_not_match_its_digest_is_refused_and_not_kept(hub, env, starcoder_model):
    data = bytearray(starcoder_model.read_bytes())
    data[-1] ^= 0xFF  # a corrupted mirror: the bytes differ from the catalog's reviewed digest
    hub.host(REPO, FILE, bytes(data))
    pulled = infill(env, "pull", "tiny-fim")
    assert pulled.returncode == 2 and "does not match the catalog's SHA-256" in pulled.stderr
    assert "Traceback" not in pulled.stderr
    assert not cached_files(env)
    # An unreviewed entry is checked against the digest the hub publishes.
    hub.host(REPO, FILE, bytes(data), published_sha256=hashlib.sha256(starcoder_model.read_bytes()).hexdigest())
    pulled = infill(env, "pull", "tiny-unreviewed")
    assert pulled.returncode == 2 and "does not match the hub's SHA-256" in pulled.stderr
    assert not cached_files(env)


def test_offline_works_from_the_cache_and_says_what_is_missing(hub, env, starcoder_model):
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    missing = infill(offline, "pull", "tiny-fim")
    assert missing.returncode == 2 and "HF_HUB_OFFLINE" in missing.stderr
    hub.host(REPO, FILE, starcoder_model.read_bytes())
    assert infill(env, "pull", "tiny-fim").returncode == 0
    hub.close()  # nothing to reach any more
    assert infill(offline, "pull", "tiny-fim").returncode == 0
    assert infill(offline, "--model", "tiny-fim", "check").returncode == 0


def test_no_room_on_the_disk_is_said_before_anything_is_written(hub, env, starcoder_model):
    hub.host(REPO, FILE, starcoder_model.read_bytes(), advertised_size=2**60)
    pulled = infill(env, "pull", "tiny-unreviewed")
    assert pulled.returncode == 2 and "free: nothing was downloaded" in pulled.stderr
    assert not cached_files(env)


def test_unknown_names_and_bad_specs_get_one_line(env):
    for args in (("pull", "no-such-model"), ("pull", "hf:only-owner"), ("--model", "no-such-model", "check")):
        result = infill(env, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_shipped_catalog_is_well_formed():
    catalog = json.loads((ROOT / "lsp_server" / "catalog.json").read_text())["models"]
    names = [entry["name"] for entry in catalog]
    assert len(names) == len(set(names)) >= 12
    for entry in catalog:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry["repo"]) and entry["file"].endswith(".gguf"), entry
        assert entry["fim"] in ("psm", "spm", None)
        if entry["verified"]:
            assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) and entry["size_bytes"] > 0, entry
        else:  # unreviewed: no digest or size is made up
            assert entry["sha256"] is None and entry["size_bytes"] is None, entry
    assert {"codellama-7b", "codellama-13b", "codellama-7b-python", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b",
            "qwen2.5-coder-3b", "qwen2.5-coder-7b", "starcoder2-3b", "starcoder2-7b", "deepseek-coder-1.3b",
            "deepseek-coder-6.7b", "codegemma-2b"} <= set(names)


def test_the_recommendation_follows_the_gpu_memory_then_the_ram():
    from infill_lsp.catalog import recommend

    gib = 2**30
    assert recommend(64 * gib, 24 * gib)[0].name == "qwen2.5-coder-7b"
    assert recommend(64 * gib, 10 * gib)[0].name == "qwen2.5-coder-3b"
    assert recommend(64 * gib, 6 * gib)[0].name == "qwen2.5-coder-1.5b"
    assert recommend(16 * gib, None)[0].name == "qwen2.5-coder-1.5b"
    assert recommend(4 * gib, None)[0].name == "qwen2.5-coder-0.5b"
    # On a CPU too slow for 1.5B at a usable speed, the smallest one, said to be slow if it is.
    assert recommend(16 * gib, None, lambda entry: 15 / entry.parameters_b)[0].name == "qwen2.5-coder-0.5b"
    slow = recommend(16 * gib, None, lambda entry: 1.0)
    assert slow[0].name == "qwen2.5-coder-0.5b" and "slow" in slow[1]


def test_a_model_fits_the_gpu_when_there_is_one_else_the_ram():
    from infill_lsp.catalog import find
    from infill_lsp.catalog_commands import fits

    gib = 2**30
    seven = find("qwen2.5-coder-7b")
    assert fits(seven, 64 * gib, None) and not fits(seven, 64 * gib, 8 * gib) and fits(seven, 4 * gib, 24 * gib)
