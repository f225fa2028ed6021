"""Keystroke latency: Infill and llama-server replay the same typing session, side by side, in one run.

For each prompt budget (tokens of code around the cursor) and each mode, both systems get the
same model, threads and context size, and the session of ``bench/replay.py``:

- ``prefix-only``: SmolLM2-135M as shipped; Infill with FIM off, llama-server ``/completion``;
- ``fim-psm`` / ``fim-spm``: a metadata-only copy of SmolLM2 whose FIM ids point at its unused
  ``<jupyter_*>`` tokens (its suggestions are meaningless, its compute cost is real); Infill
  with that FIM order, llama-server ``/infill`` (with ``--spm-infill`` for SPM).

Both systems get the same ``--flash-attn`` (off on the CPU, where it slows the one-token decode
of a keystroke). llama-server runs with ``-np 1 --cache-reuse 256`` and ``-b`` equal to the
budget, so its own prefix/suffix trimming (¾ prefix, ¼ suffix of ``n_batch``) matches Infill's;
its client sends a fixed number of lines around the cursor, as llama.vscode does, sized to the
budget.

Reported per system: the cold first request (Infill answers a prompt over its time budget
shortened, then evaluates the full prompt in the background: "full" is when that was done, and
the replay starts only then, so both systems type with the same context); time to the first
token over the requests whose first token arrived before the next keystroke cancelled them;
time to the whole suggestion over the requests that finished; prompt tokens evaluated per
finished request (median/max); and, for Infill, the tokens its background work (speculative
next suggestion) evaluated in the whole run.

    python -m bench.latency [--budgets 2048,8192] [--threads 2] [--systems infill,infill-remote,llama-server]

llama-server is the cached build of the llama.cpp tree inside the pinned llama-cpp-python sdist
(``python -m bench.llama_server build``), or ``--llama-server PATH``. ``infill-remote`` is Infill
with ``--engine-url`` on a llama-server of its own started with the peer's flags.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from bench.llama_server import LlamaServer
from bench.replay import InfillClient, LlamaServerClient, Record, make_session, server_args
from bench.stats import percentile
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.native_backend import FLASH_ATTENTION_SETTINGS, default_gpu_layers, flash_attention_for

ROOT = Path(__file__).resolve().parent.parent
MAX_TOKENS = 24
SESSION_FILE = Path(sysconfig.get_paths()["stdlib"]) / "_pydecimal.py"
SESSION_LINE = 4000
"""Deep enough that more than 8K tokens of the file come before the cursor."""
MODES = {
    # name: (FIM-shaped model?, Infill completion settings, llama-server endpoint, --spm-infill)
    "prefix-only": (False, {"fim": "off"}, "/completion", False),
    "fim-psm": (True, {"fim": "on", "fimOrder": "psm"}, "/infill", False),
    "fim-spm": (True, {"fim": "on", "fimOrder": "spm"}, "/infill", True),
}
JUPYTER_TOKENS = {"fim_pre": 11, "fim_suf": 12, "fim_mid": 13}


def fim_shaped_model(plain: Path, target: Path) -> Path:
    """A copy of ``plain`` whose metadata names three unused special tokens as FIM tokens."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        ids = [arg for key, token in JUPYTER_TOKENS.items() for arg in ("--special-token-by-id", key, str(token))]
        subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", *ids, "--force",
                        str(plain), str(target)], check=True, stdout=subprocess.DEVNULL)
    return target


def session_start(document: str, near: int, count: int = 3) -> int:
    """The first of ``count`` consecutive, plainly indented statement lines at or after ``near``."""
    lines = document.split("\n")
    for index in range(near, len(lines) - count):
        window = lines[index:index + count]
        if all(20 <= len(line.strip()) <= 70 and line.startswith("        ") and not line.strip().startswith(("#", '"'))
               for line in window):
            return index
    raise ValueError(f"no {count} statement lines after line {near}")


def summarize(records: list[Record]) -> dict:
    sent = len(records)
    records = [r for r in records if not r.failed]
    finished = [r for r in records if r.done is not None and not r.cancelled]
    # A first token counts if it reached the client before the next keystroke cancelled the request.
    first = [(r.first - r.sent) * 1000 for r in records
             if r.first is not None and (r.cancelled_at is None or r.first <= r.cancelled_at)]
    full = [(r.done - r.sent) * 1000 for r in finished]
    evaluated = [r.evaluated for r in finished if r.evaluated is not None]
    with_model = [r for r in finished if r.context is not None]
    row = {"requests": sent, "failed": sent - len(records), "finished": len(finished), "with_first": len(first),
           "shortened": sum(r.shortened for r in finished),
           "with_context": f"{sum(r.context > 0 for r in with_model)}/{len(with_model)}" if with_model else "-"}
    # When the user first got a suggestion from the whole prompt, repository context included.
    whole = next((r for r in with_model if r.context > 0 and not r.shortened), None)
    row["whole_prompt_at_s"] = f"{whole.sent - records[0].sent:.1f}" if whole and records else "-"
    for name, values in (("first", first), ("full", full)):
        row.update({f"{name}_p50": percentile(values, 0.5), f"{name}_p95": percentile(values, 0.95),
                    f"{name}_max": max(values)} if values else {})
    if evaluated:
        row.update(evaluated_median=statistics.median(evaluated), evaluated_max=max(evaluated))
    return row


def run_one(system: str, mode: str, budget: int, args, models: dict[bool, Path], logs: Path) -> dict:
    shaped, completion, endpoint, spm = MODES[mode]
    model = models[shaped]
    n_ctx = budget + 2 * MAX_TOKENS + 64
    # Past the training context, both systems stretch the positions the same way (linear RoPE).
    rope_scale = max(1.0, n_ctx / args.trained_context)
    rng = random.Random(args.seed)
    document = "\n".join(path.read_text(encoding="utf-8") for path in args.session_files)
    session = make_session(document, session_start(document, args.session_line, args.lines), args.lines, rng)
    log = logs / f"{system}-{mode}-{budget}.log"
    server = None
    if system in ("infill", "infill-remote"):
        settings = {"completion": {**completion, "windowTokens": budget, "maxTokens": MAX_TOKENS, "multiline": "never"},
                    "context": {"maxTokens": args.context_tokens}}
        engine = []
        if system == "infill-remote":
            # The peer's llama-server flags, with two slots of the same size for the one user:
            # keystrokes in one, the full prompt growing in the other (as Infill's two KV sequences).
            server = LlamaServer(model, args=server_args(model, n_ctx + args.context_tokens, args.threads, rope_scale,
                                                         budget, args.flash_attn, parallel=2),
                                 log=logs / f"{system}-{mode}-server.log", binary=args.llama_server).start()
            engine = ["--engine-url", server.url, "--engine-api", "llama-server", "--engine-slot", "0"]
        client = InfillClient(model, n_ctx + args.context_tokens, args.threads, rope_scale, settings, log,
                              flash_attention=args.flash_attn, workspace=args.workspace,
                              document=args.session_files[0] if args.workspace else None, engine=engine)
    else:
        client = LlamaServerClient(args.llama_server, model, n_ctx, args.threads, rope_scale, budget, endpoint=endpoint,
                                   spm=spm, request={"n_predict": MAX_TOKENS, "stop": ["\n"]}, log=log,
                                   flash_attention=args.flash_attn)
        client.fit(session, budget)
    try:
        cold = client.warm(session, grown=not args.cold)
        records = client.replay(session, wait_for_answers=args.wait_for_answers)
    finally:
        client.close()  # Infill's evaluated-token counts come from its log, read at close
        if server is not None:
            server.stop()
    row = summarize(records)
    # The user's whole session: the cold first answer counts as one more request.
    waited = [(r.done - r.sent) * 1000 for r in records if r.done is not None and not r.cancelled]
    row["session_mean"] = (sum(waited) + cold * 1000) / (len(waited) + 1)
    full_context_ms = client.full_context_ms if client.full_context_ms is not None else cold * 1000
    return {"system": system, "mode": mode, "budget": budget, "cold_ms": cold * 1000,
            "full_context_ms": full_context_ms,
            "keystrokes": len(session.keystrokes), "background": getattr(client, "background_evaluated", 0), **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-server", type=Path,
                        help="a llama-server binary (default: the cached build, `python -m bench.llama_server build`)")
    parser.add_argument("--budgets", default="2048,8192", help="prompt budgets in tokens, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flash-attn", choices=FLASH_ATTENTION_SETTINGS,
                        default=flash_attention_for("auto", default_gpu_layers()),
                        help="flash attention for both systems (default: Infill's own choice, off on the CPU)")
    parser.add_argument("--model", type=Path, default=Path(default_model_path()))
    parser.add_argument("--trained-context", type=int, default=8192,
                        help="the model's training context (RoPE scaling past it)")
    parser.add_argument("--tiny", action="store_true",
                        help="use the tests' random-weight FIM model (SmolLM2's vocabulary, 2 small layers) for every "
                             "mode")
    parser.add_argument("--session-files", type=lambda text: [Path(p) for p in text.split(",")], default=[SESSION_FILE],
                        help="source files, joined into one document to type in (comma-separated)")
    parser.add_argument("--session-line", type=int, default=SESSION_LINE, help="retype lines from about here")
    parser.add_argument("--lines", type=int, default=3, help="how many lines the session retypes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cold", action="store_true",
                        help="type right after the first answer, without waiting for a shortened prompt to grow")
    parser.add_argument("--wait-for-answers", action="store_true",
                        help="each keystroke waits for the previous answer (no cancellation), then its delay")
    parser.add_argument("--systems", default="infill,llama-server",
                        help="infill (in-process), infill-remote (Infill on llama-server), llama-server (as "
                             "llama.vscode calls it)")
    parser.add_argument("--workspace", type=Path,
                        help="Infill indexes this folder (from the first keystroke on) and types in the first session "
                             "file inside it; default: an untitled document and no repository context")
    parser.add_argument("--context-tokens", type=int, default=0,
                        help="repository context for Infill (context.maxTokens), added to its context size")
    args = parser.parse_args()
    if args.tiny:
        from bench.tiny_models import write_starcoder_style

        tiny = ROOT / ".cache" / "models" / "tiny-fim.gguf"
        if not tiny.exists():
            tiny.parent.mkdir(parents=True, exist_ok=True)
            write_starcoder_style(args.model, tiny)
        models = {False: tiny, True: tiny}
    else:
        models = {False: args.model, True: fim_shaped_model(args.model,
                                                            ROOT / ".cache" / "models" / "smollm2-fim-shaped.gguf")}
    logs = Path(tempfile.mkdtemp(prefix="infill-latency-"))
    print(f"session: {', '.join(p.name for p in args.session_files)} from line {args.session_line}; model "
          f"{models[True].name if args.tiny else args.model.name}; {args.threads} threads; {MAX_TOKENS} tokens max, "
          f"single-line; logs in {logs}")
    header = (f"{'budget':>6} {'mode':11} {'system':12} {'cold ms':>8} {'full ms':>8} {'1st/done/req':>12} "
              f"{'first p50':>9} {'p95':>6} "
              f"{'max':>6} {'full p50':>8} {'p95':>6} {'max':>6} {'eval med':>8} {'max':>5} {'bg eval':>7} "
              f"{'short':>5} {'mean+cold':>9} {'context':>8} {'whole at':>8}")
    print(header)
    for budget in (int(b) for b in args.budgets.split(",")):
        for mode in args.modes.split(","):
            for system in args.systems.split(","):
                row = run_one(system, mode, budget, args, models, logs)
                counts = f"{row['with_first']}/{row['finished']}/{row['requests']}"
                if row["failed"]:
                    counts += f" ({row['failed']} errors)"
                print(f"{budget:>6} {mode:11} {system:12} {row['cold_ms']:8.0f} {row['full_context_ms']:8.0f} "
                      f"{counts:>12} "
                      f"{row.get('first_p50', 0):9.0f} {row.get('first_p95', 0):6.0f} {row.get('first_max', 0):6.0f} "
                      f"{row.get('full_p50', 0):8.0f} {row.get('full_p95', 0):6.0f} {row.get('full_max', 0):6.0f} "
                      f"{row.get('evaluated_median', 0):8.0f} {row.get('evaluated_max', 0):5.0f} "
                      f"{row['background']:7d} "
                      f"{row['shortened']:5d} {row['session_mean']:9.0f} {row['with_context']:>8} "
                      f"{row['whole_prompt_at_s']:>8}", flush=True)


if __name__ == "__main__":
    main()
