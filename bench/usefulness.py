"""What a typing user gets, in real time: characters saved, and wrong suggestions read.

The user of ``bench/typing_user.py`` retypes places in files of real packages (``--files``;
default: jinja2's compiler, requests' sessions, click's core, as installed), never waiting for
a suggestion: each key is a ``didChange`` and an automatic ``inlineCompletion`` (Infill, over
stdio, streaming on as the editors have it) or a streamed ``/completion`` / ``/infill`` request
(llama-server, as llama.vscode and llama.vim call it: the whole answer is shown when it is
complete); a newer key cancels the request still running. A suggestion counts as shown only if
it is on screen when the next key is due; then the user accepts it whole, by word, or types
over it (a wrong suggestion, when not even its first word was right). Infill is told of each
acceptance as an editor tells it (``infill.accepted``).

Per system and pass: share of characters saved (whole / by word), suggestions shown per 100
keys, accepted share of shown, wrong shown per 100 keys, and the latency of shown answers. The
first pass starts on a fresh server (cold); the second retypes the same places on the same
server (warm). Systems: ``infill`` (the confidence gate at its default, ``auto``),
``infill-ungated`` (``completion.confidence`` off), ``llama-server``.

    python -m bench.usefulness [--systems infill,infill-ungated,llama-server] [--places 4] [--lines 8]
    python -m bench.usefulness --tiny          # the tests' tiny FIM-layout model, PSM, as a sanity row
    python -m bench.usefulness --model FIM.gguf --fim --gpu-layers 99   # a real FIM model, on a GPU
"""

from __future__ import annotations

import argparse
import importlib
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.latency import fim_shaped_model
from bench.replay import InfillClient, LlamaServerClient, Record, Session
from bench.stats import percentile
from bench.typing_user import Place, Typist, places, take
from infill_lsp.engine.models import default_model_path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ("jinja2/compiler.py", "requests/sessions.py", "click/core.py")
MAX_TOKENS = 24
WINDOW_TOKENS = 1024
N_CTX = 2048


@dataclass
class Tally:
    """One pass of one system."""

    keys: int = 0
    to_type: int = 0
    """Characters of the places' lines (their indentation comes with the newline)."""
    saved_whole: int = 0
    saved_by_word: int = 0
    shown: int = 0
    accepted: int = 0
    wrong: int = 0
    latencies: list[float] = field(default_factory=list)
    """Milliseconds from the key to the suggestion on screen, over the shown ones."""

    def row(self) -> dict:
        per_key = 100 / max(1, self.keys)
        return {"saved": (self.saved_whole + self.saved_by_word) / max(1, self.to_type),
                "saved_whole": self.saved_whole / max(1, self.to_type),
                "saved_by_word": self.saved_by_word / max(1, self.to_type),
                "shown_per_100": self.shown * per_key, "accepted_share": self.accepted / max(1, self.shown),
                "wrong_per_100": self.wrong * per_key, "keys": self.keys, "shown": self.shown,
                "latency_p50": percentile(self.latencies, 0.5) if self.latencies else 0.0,
                "latency_p95": percentile(self.latencies, 0.95) if self.latencies else 0.0}


def on_screen(record: Record | None, now: float, streams: bool) -> tuple[str, float] | None:
    """What the answer to ``record`` puts on screen by ``now``, and when it got there."""
    if record is None or record.failed:
        return None
    if record.done is not None and record.done <= now and record.text:
        return record.text, record.done
    if streams and record.partial and record.partial_at is not None and record.partial_at <= now:
        return record.partial, record.partial_at
    return None


def type_place(client, place: Place, typist: Typist, tally: Tally, *, streams: bool) -> None:
    """Retype ``place``: every key asks for a suggestion; what is right on screen is accepted."""
    client.reset(place.before + place.after)
    document = place.before
    pending: Record | None = None
    due = time.perf_counter() + 0.3

    def press(text: str) -> None:
        nonlocal document, pending
        if pending is not None and pending.done is None and not pending.failed:
            pending.cancelled_at = time.perf_counter()
            client.cancel()
        document += text
        pending = Record(time.perf_counter())
        client.request(document, place.after, text, pending)

    for number, line in enumerate(place.lines):
        indent = line[: len(line) - len(line.lstrip())]
        body = line[len(indent):]
        tally.to_type += len(body)
        opening = ("\n" if number else "") + indent
        if opening:
            time.sleep(max(0.0, due - time.perf_counter()))
            tally.keys += 1
            press(opening)
            due = time.perf_counter() + typist.delay("")
        typed = 0
        while typed < len(body):
            time.sleep(max(0.0, due - time.perf_counter()))
            visible = on_screen(pending, time.perf_counter(), streams)
            if visible is not None:
                text, arrived = visible
                taken = take(text, body[typed:])
                tally.shown += 1
                tally.latencies.append((arrived - pending.sent) * 1000)
                if taken.chars:
                    tally.accepted += 1
                    tally.saved_whole += taken.whole
                    tally.saved_by_word += taken.by_word
                    tally.keys += taken.presses
                    client.accepted(pending, taken.chars, part=not taken.whole)
                    time.sleep(typist.delay("") * (taken.presses - 1))
                    press(body[typed:typed + taken.chars])
                    typed += taken.chars
                    due = time.perf_counter() + typist.delay(body[:typed])
                    continue
                tally.wrong += not taken.right
            tally.keys += 1
            press(body[typed])
            typed += 1
            due = time.perf_counter() + typist.delay(body[:typed])
        # At the end of the line, what is on screen is read before Enter: single-line
        # suggestions there are all wrong.
        time.sleep(max(0.0, due - time.perf_counter()))
        visible = on_screen(pending, time.perf_counter(), streams)
        if visible is not None:
            tally.shown += 1
            tally.wrong += 1
            tally.latencies.append((visible[1] - pending.sent) * 1000)
    if pending is not None:
        client.wait(pending, 30)


def start(system: str, args, model: Path, logs: Path, first: Place):
    if system.startswith("infill"):
        confidence = "off" if system == "infill-ungated" else args.confidence
        completion = {"maxTokens": MAX_TOKENS, "multiline": "never", "windowTokens": WINDOW_TOKENS,
                      "confidence": confidence, **({"fim": "on", "fimOrder": "psm"} if args.fim else {"fim": "off"})}
        return InfillClient(model, N_CTX, args.threads, 1.0, {"completion": completion, "context": {"maxTokens": 0}},
                            logs / f"{system}.log", flash_attention="off",
                            engine=["--stats-file", str(logs / f"{system}-acceptance.json"),
                                    *(["--n-gpu-layers", str(args.gpu_layers)] if args.gpu_layers is not None else [])])
    client = LlamaServerClient(args.llama_server, model, N_CTX, args.threads, 1.0, WINDOW_TOKENS,
                               endpoint="/infill" if args.fim else "/completion", spm=False,
                               request={"n_predict": MAX_TOKENS, "stop": ["\n"]}, log=logs / f"{system}.log",
                               flash_attention="off",
                               extra_args=("-ngl", str(args.gpu_layers)) if args.gpu_layers is not None else ())
    client.fit(Session(first.before, first.after, []), WINDOW_TOKENS)
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="infill,infill-ungated,llama-server")
    parser.add_argument("--files", default=",".join(PACKAGE_FILES),
                        help="files to type in, as paths inside installed packages (comma-separated)")
    parser.add_argument("--places", type=int, default=4, help="places per file")
    parser.add_argument("--lines", type=int, default=8, help="lines per place")
    parser.add_argument("--passes", type=int, default=2, help="1: cold only; 2: cold, then warm")
    parser.add_argument("--confidence", default="auto", help="completion.confidence of the gated Infill")
    parser.add_argument("--model", type=Path, default=Path(default_model_path()))
    parser.add_argument("--fim", action="store_true", help="a FIM model: Infill in PSM, llama-server /infill")
    parser.add_argument("--tiny", action="store_true", help="the FIM-shaped copy of the bundled model, in PSM")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-layers", type=int, help="layers both systems offload (default: each one's own)")
    parser.add_argument("--llama-server", type=Path, help="a llama-server binary (default: the cached build)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    model = args.model
    if args.tiny:
        model, args.fim = fim_shaped_model(args.model, ROOT / ".cache" / "models" / "smollm2-fim-shaped.gguf"), True
    files = []
    for name in args.files.split(","):
        package, _, rest = name.partition("/")
        files.append(Path(importlib.import_module(package).__file__).parent / rest)
    rng = random.Random(args.seed)
    chosen = [place for path in files for place in places(path, args.places, args.lines, rng)]
    logs = Path(tempfile.mkdtemp(prefix="infill-usefulness-"))
    print(f"{len(chosen)} places of {args.lines} lines in {', '.join(p.name for p in files)}; model {model.name}; "
          f"{'PSM / /infill' if args.fim else 'prefix-only / /completion'}; {args.threads} threads; logs in {logs}")
    print(f"{'system':15} {'pass':5} {'keys':>5} {'saved':>6} {'whole':>6} {'word':>6} {'shown/100':>9} "
          f"{'accepted':>8} {'wrong/100':>9} {'shown p50':>9} {'p95':>6}")
    for system in args.systems.split(","):
        client = start(system, args, model, logs, chosen[0])
        try:
            for number in range(args.passes):
                tally = Tally()
                typist = Typist(random.Random(args.seed + number))
                for place in chosen:
                    type_place(client, place, typist, tally, streams=system.startswith("infill"))
                row = tally.row()
                print(f"{system:15} {'cold' if number == 0 else 'warm':5} {row['keys']:5d} {row['saved']:6.3f} "
                      f"{row['saved_whole']:6.3f} {row['saved_by_word']:6.3f} {row['shown_per_100']:9.1f} "
                      f"{row['accepted_share']:8.3f} {row['wrong_per_100']:9.1f} {row['latency_p50']:9.0f} "
                      f"{row['latency_p95']:6.0f}", flush=True)
        finally:
            client.close()


if __name__ == "__main__":
    main()
