"""Names typed one character at a time: how often the suggestion finishes the name, with and
without token healing of the partial token at the cursor.

The examples are those of ``bench.partial_names`` (a line that calls a function, class or
method defined in another file of its package: rich, click, attrs and httpx from PyPI,
commander and express from npm, pinned), but each name is cut at every character position, as
a user's keystrokes cut it, with the rest of the line not written yet and the repository
context the server would gather. A cut is *mid-token* when the tokens of the line up to the cut
are not a start of the tokens of the line up to the end of the name (the prompt ends in a
fragment the finished name does not have), else a *boundary* cut. "Exact": what was typed plus
the identifier the model writes next is the name. Differences are paired per cut, with 95%
bootstrap intervals.

    python -m bench.healing [--examples 40] [--context-tokens 768]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import statistics
import time

from bench.context_quality import Found, PackageIndexes
from bench.partial_names import Example, fetch_packages, find_examples
from bench.stats import bootstrap
from infill_lsp.engine.completer import LlamaCompleter
from infill_lsp.engine.llama_engine import LlamaEngine
from infill_lsp.engine.models import default_model_path
from infill_lsp.engine.request import CompletionRequest
from infill_lsp.settings import CompletionSettings

SYSTEMS = ("unhealed", "healed")
_IDENTIFIER = re.compile(r"[\w$]*")


def cuts_of(example: Example) -> list[tuple[str, str]]:
    """(prefix, typed) at every character of the name but its last."""
    start = len(example.prefix) - len(example.typed)
    return [(example.prefix[:start + at], example.name[:at]) for at in range(1, len(example.name))]


def mid_token(engine: LlamaEngine, prefix: str, name: str, typed: str) -> bool:
    """Whether the cut ends inside a token of the finished name (judged on the cursor's line)."""
    line = prefix[prefix.rfind("\n") + 1:]
    cut = engine.encoder.encode_infilling(line)
    whole = engine.encoder.encode_infilling(line[:len(line) - len(typed)] + name)
    return whole[:len(cut)] != cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40, help="names in total, split over the packages")
    parser.add_argument("--context-tokens", type=int, default=768)
    parser.add_argument("--model", default=default_model_path())
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    packages = fetch_packages()
    indexes = PackageIndexes()
    per_package = max(1, args.examples // len(packages))
    examples = [e for package in packages for e in find_examples(indexes, package, per_package, rng)]
    engine = LlamaEngine(args.model, n_ctx=2048)
    found = Found()
    completer = LlamaCompleter(engine, found)
    base = CompletionSettings(max_tokens=12, multiline="never", window_tokens=512, prompt_budget_ms=0)
    settings = {"unhealed": dataclasses.replace(base, token_healing=False), "healed": base}
    rows: list[dict] = []
    started = time.perf_counter()
    for number, example in enumerate(examples, 1):
        repository = indexes(example.package)
        repository.set_buffer(example.path, example.prefix + example.suffix, edited=False)
        found.source = repository.gather
        for prefix, typed in cuts_of(example):
            row = {"mid": mid_token(engine, prefix, example.name, typed), "name": example.name, "typed": typed}
            for system in SYSTEMS:
                request = CompletionRequest(prefix, example.suffix, settings[system],
                                            path=example.path.relative_to(example.package).as_posix(),
                                            repo=example.package.name, document=example.path,
                                            context_tokens=args.context_tokens)
                text = completer.complete(request).text
                row[system] = float(typed + _IDENTIFIER.match(text).group(0) == example.name)
            rows.append(row)
        repository.close_buffer(example.path)
        print(f"[{number}/{len(examples)}] {example.name}: {len(rows)} cuts, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    report(rows, rng)


def report(rows: list[dict], rng: random.Random) -> None:
    names = len({row["name"] for row in rows})
    print(f"\n{names} names, {len(rows)} cuts")
    print(f"{'cuts':10} {'n':>5} {'unhealed':>9} {'healed':>7} {'ratio':>6}  healed - unhealed [95% CI]")
    for label, chosen in (("mid-token", [r for r in rows if r["mid"]]), ("boundary", [r for r in rows if not r["mid"]]),
                          ("all", rows)):
        if not chosen:
            continue
        unhealed = statistics.mean(r["unhealed"] for r in chosen)
        healed = statistics.mean(r["healed"] for r in chosen)
        mean, low, high = bootstrap([r["healed"] - r["unhealed"] for r in chosen], rng)
        ratio = f"{healed / unhealed:6.2f}" if unhealed else "   inf"
        print(f"{label:10} {len(chosen):5d} {unhealed:9.3f} {healed:7.3f} {ratio}  {mean:+.3f} [{low:+.3f}, "
              f"{high:+.3f}]")


if __name__ == "__main__":
    main()
