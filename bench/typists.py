"""Several users on one shared llama-server: does each keep the latency and the cache of one alone?

One llama-server with ``--parallel 16 --cache-reuse 256`` (two slots per user: keystrokes in
one, a full prompt growing in the other) and, for 1, 4 and 8 typists, that many Infill language
servers (each its own process, ``--engine-url`` and ``--engine-slot 2N``), each retyping lines
at a different place of the same file at the same time, with the keystroke timing of
``bench/replay.py``. Each typist first gets a cold answer
and waits for its full prompt to be cached (``warm``), then types; reported per typist count:
the p50/p95 whole suggestion over all typists' keystrokes, the worst typist's p95, and the
prompt tokens the server evaluated per keystroke (median and the worst typist's median, from its
timings): a user whose slot another user took would re-evaluate thousands.

    python -m bench.typists [--typists 1,4,8] [--lines 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
from pathlib import Path

from bench.latency import MAX_TOKENS, SESSION_FILE, session_start, summarize
from bench.llama_server import LlamaServer
from bench.replay import InfillClient, Record, make_session, server_args
from bench.stats import percentile
from infill_lsp.engine.models import default_model_path

SLOT_CONTEXT = 4096
FIRST_LINE = 1200


def run(typists: int, server: LlamaServer, args, logs: Path) -> dict:
    document = SESSION_FILE.read_text(encoding="utf-8")
    settings = {"completion": {"fim": "off", "windowTokens": args.budget, "maxTokens": MAX_TOKENS,
                               "multiline": "never"},
                "context": {"maxTokens": 0}}
    clients, sessions = [], []
    for user in range(typists):
        start = session_start(document, FIRST_LINE + 600 * user, args.lines)  # 8 places in the file
        sessions.append(make_session(document, start, args.lines, random.Random(args.seed + user)))
        clients.append(InfillClient(args.model, SLOT_CONTEXT, args.threads, 1.0, settings,
                                    logs / f"{typists}-{user}.log",
                                    engine=["--engine-url", server.url, "--engine-slot", str(2 * user)]))
    records: list[list[Record]] = [[] for _ in range(typists)]
    try:
        for client, session in zip(clients, sessions):  # one after another: cold starts are not the question
            client.warm(session)
        ready = threading.Barrier(typists)

        def type_along(user: int) -> None:
            ready.wait()
            records[user] = clients[user].replay(sessions[user], wait_for_answers=True)

        threads = [threading.Thread(target=type_along, args=(user,)) for user in range(typists)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()  # the evaluated-token counts come from each log, read at close
    rows = [summarize(user_records) for user_records in records]
    whole = [(r.done - r.sent) * 1000 for user_records in records for r in user_records
             if r.done is not None and not r.cancelled and not r.failed]
    evaluated = [r.evaluated for user_records in records for r in user_records if r.evaluated is not None]
    return {"typists": typists, "keystrokes": len(whole), "failed": sum(row["failed"] for row in rows),
            "p50": percentile(whole, 0.5), "p95": percentile(whole, 0.95),
            "worst_p95": max(row.get("full_p95", 0) for row in rows),
            "evaluated_median": statistics.median(evaluated) if evaluated else 0,
            "worst_evaluated_median": max(row.get("evaluated_median", 0) for row in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--typists", default="1,4,8")
    parser.add_argument("--lines", type=int, default=2)
    parser.add_argument("--budget", type=int, default=2048, help="completion.windowTokens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", type=Path, default=Path(default_model_path()))
    parser.add_argument("--llama-server", type=Path, help="binary (default: the cached build)")
    args = parser.parse_args()
    counts = [int(n) for n in args.typists.split(",")]
    logs = Path(tempfile.mkdtemp(prefix="infill-typists-"))
    flags = server_args(args.model, SLOT_CONTEXT, args.threads, 1.0, args.budget, "off", parallel=2 * max(counts))
    print(f"llama-server {' '.join(flags)}; {args.lines} lines per typist; logs in {logs}")
    print(f"{'typists':>7} {'keys':>5} {'failed':>6} {'p50 ms':>7} {'p95 ms':>7} {'worst p95':>9} {'eval med':>8} "
          f"{'worst med':>9}")
    with LlamaServer(args.model, args=flags, log=logs / "llama-server.log", binary=args.llama_server) as server:
        for typists in counts:
            row = run(typists, server, args, logs)
            print(f"{row['typists']:>7} {row['keystrokes']:>5} {row['failed']:>6} {row['p50']:7.0f} {row['p95']:7.0f} "
                  f"{row['worst_p95']:9.0f} {row['evaluated_median']:8.0f} {row['worst_evaluated_median']:9.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
