"""Editor-level settings: typed, documented per field, camelCase on the wire.

Settings arrive in ``initializationOptions`` and ``workspace/didChangeConfiguration`` (either
bare or under an ``infill`` key). A bad value falls back to the default of that one field and
produces one clear message; unknown keys are ignored. :func:`settings_schema` turns these
dataclasses into a JSON schema, the single source for editor clients' settings.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from infill_lsp.fim.postprocess import RULE_NAMES


def _setting(default: Any, description: str, *, minimum: float | None = None, maximum: float | None = None,
             choices: tuple[str, ...] | None = None, pattern: tuple[str, str] | None = None) -> Any:
    """``pattern``: a regular expression a string must match, and what it means in words."""
    meta = {"description": description, "minimum": minimum, "maximum": maximum, "choices": choices,
            "pattern": pattern[0] if pattern else None, "pattern_means": pattern[1] if pattern else None}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class CompletionSettings:
    """How suggestions are generated and shaped."""

    enabled: bool = _setting(True, "Offer inline completions at all.")
    style: str = _setting(
        "auto", "How suggestions are shown: 'inline' (ghost text), 'popup' (one item in the completion list, for "
        "editors without inline completion), 'both' (ghost text while typing, the item when completion is "
        "invoked) or 'auto' (inline where the editor supports it, else the popup). Read when the server starts.",
        choices=("auto", "inline", "popup", "both"))
    max_tokens: int = _setting(128, "Most tokens generated for one suggestion.", minimum=1, maximum=2048)
    multiline: str = _setting(
        "auto", "Multi-line suggestions: 'auto' (on blank lines and after block openers), 'always' or 'never'.",
        choices=("auto", "always", "never"))
    temperature: float = _setting(0.0, "Sampling temperature; 0 is greedy and deterministic.", minimum=0.0, maximum=2.0)
    fim: str = _setting(
        "auto", "Fill-in-the-middle: 'auto' (use the model's FIM tokens if it was trained on them), "
        "'on' (force) or 'off' (prefix-only).", choices=("auto", "on", "off"))
    fim_order: str = _setting(
        "auto", "FIM token order: 'auto' (SPM for Code Llama, else PSM), 'psm' or 'spm'.",
        choices=("auto", "psm", "spm"))
    window_tokens: int = _setting(
        2048, "Token budget for the code around the cursor (prefix and suffix).", minimum=64, maximum=100_000)
    time_budget_ms: int = _setting(
        2000, "After this many milliseconds, a suggestion ends at the next line break.", minimum=50, maximum=60_000)
    prompt_budget_ms: int = _setting(
        400, "Longest the prompt may take to evaluate before a suggestion, at the measured speed. A prompt "
        "that would take longer (cold cache, new context) is shortened to the repository context already "
        "cached and a smaller window, and the full prompt is evaluated in the background once the user "
        "pauses; 0 always evaluates the full prompt.", minimum=0, maximum=600_000)
    token_healing: bool = _setting(
        True, "When the cursor is inside a word, take its last token(s) off the prompt and make the model "
        "spell them first, so that it sees the word as the tokenizer spells it whole ('rectangle_peri' "
        "continues as 'perimeter', not as a new token after 'peri'). Whitespace at the cursor is always healed.")
    speculate: bool = _setting(
        True, "After a suggestion is shown, compute the one that would follow it in the background, so "
        "accepting shows the next suggestion at once.")
    warm_idle_ms: int = _setting(
        400, "After an edit with no completion request for this many milliseconds, evaluate the prompt at the "
        "edit in the background so the next request finds it cached; 0 disables.", minimum=0, maximum=60_000)
    confidence: str = _setting(
        "auto", "Which suggestions are shown, by the confidence gate's estimate that at least a word of one is "
        "accepted: 'auto' (the shipped threshold, moved within bounds by what you accept), 'off' (show every "
        "suggestion) or a fixed threshold from '0' to '1' (higher: fewer, better suggestions).",
        pattern=(r"^(auto|off|0(\.[0-9]+)?|1(\.0+)?)$", "'auto', 'off' or a number from 0 to 1"))
    rules_off: tuple[str, ...] = _setting(
        (), "Rules that end a suggestion to switch off, to measure what each one earns (python -m bench.infilling "
        "--ablate): " + ", ".join(repr(name) for name in RULE_NAMES) + ".", choices=RULE_NAMES)


@dataclass(frozen=True)
class ContextSettings:
    """Repository context added to the prompt."""

    max_tokens: int = _setting(
        1024, "Token budget for code from other files of the repository; 0 disables it. Raise it on a GPU: "
        "a cold prompt costs about 3 ms per token on 2 CPU cores.", minimum=0, maximum=100_000)
    include: tuple[str, ...] = _setting(
        (), "Gitignore-style globs a file must match to be indexed (empty: every file).")
    exclude: tuple[str, ...] = _setting(
        (), "Gitignore-style globs of files never indexed, on top of .gitignore, .infillignore and secrets.")
    max_file_kb: int = _setting(1000, "Files larger than this many KB are not indexed.", minimum=1, maximum=100_000)


@dataclass(frozen=True)
class EngineSettings:
    """Where the model runs; read when the server starts (the command line and environment win)."""

    url: str = _setting(
        "", "Inference server to run the model on (llama-server or OpenAI-compatible such as vLLM), e.g. "
        "https://llm.example.com; empty runs the model in the server process. The API key is read from the "
        "INFILL_ENGINE_KEY environment variable only.")
    api: str = _setting(
        "auto", "The server's API: 'llama-server' (/completion), 'openai' (/v1/completions) or 'auto' (ask it).",
        choices=("auto", "llama-server", "openai"))
    slot: int = _setting(
        -1, "First of the two llama-server slots reserved for this user (N and N+1: keystrokes in one, a full "
        "prompt growing in the other), so that users do not evict each other's prompts; -1 lets the server "
        "pick.", minimum=-1, maximum=1024)
    ca_bundle: str = _setting(
        "", "PEM file of extra certificate authorities to trust for https (a company CA); the system store stays "
        "trusted and certificates are always verified.")


@dataclass(frozen=True)
class Settings:
    """All editor-level settings."""

    completion: CompletionSettings = field(default_factory=CompletionSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    streaming: bool = _setting(
        False, "Send partial suggestions as they are generated (infill/partialCompletion notifications).")


def camel(name: str) -> str:
    """snake_case → camelCase."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check(value: Any, spec: dataclasses.Field) -> str | None:
    """Return why ``value`` is not acceptable for ``spec``, or None."""
    meta, kind = spec.metadata, spec.type
    if kind == "bool":
        return None if isinstance(value, bool) else "expected true or false"
    if kind.startswith("tuple"):
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if ok and meta["choices"] and not set(value) <= set(meta["choices"]):
            return "expected items among " + ", ".join(repr(c) for c in meta["choices"])
        return None if ok else "expected a list of strings"
    if kind in ("int", "float"):
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (kind == "int" and not float(value).is_integer()):
            return f"expected a{'n integer' if kind == 'int' else ' number'}"
        low, high = meta["minimum"], meta["maximum"]
        if (low is not None and value < low) or (high is not None and value > high):
            return f"expected a value from {low} to {high}"
        return None
    if kind == "str" and not isinstance(value, str):
        return "expected a string"
    if meta["pattern"] and not re.match(meta["pattern"], value):
        return f"expected {meta['pattern_means']}"
    if meta["choices"] and value not in meta["choices"]:
        return "expected one of " + ", ".join(repr(c) for c in meta["choices"])
    return None


def _resolve_section(section: Any, data: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(data, dict):
        where = path.rstrip(".") or "settings"
        errors.append(f"{where}: expected an object, got {type(data).__name__}; using defaults")
        return section
    changes: dict[str, Any] = {}
    for spec in dataclasses.fields(section):
        key = camel(spec.name)
        if key not in data:
            continue
        current = getattr(section, spec.name)
        if dataclasses.is_dataclass(current):
            changes[spec.name] = _resolve_section(current, data[key], f"{path}{key}.", errors)
            continue
        problem = _check(data[key], spec)
        if problem:
            errors.append(f"{path}{key}: {problem}, got {data[key]!r}; using {current!r}")
        else:
            value = data[key]
            converters = {"int": int, "float": float}
            changes[spec.name] = tuple(value) if isinstance(value, list) else converters.get(spec.type,
                                                                                             lambda v: v)(value)
    return dataclasses.replace(section, **changes)


def resolve_settings(data: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Apply wire settings over ``base`` (defaults if None); returns the result and messages."""
    base = base or Settings()
    if data is None:
        return base, []
    if isinstance(data, dict) and isinstance(data.get("infill"), dict):
        data = data["infill"]
    errors: list[str] = []
    return _resolve_section(base, data, "", errors), errors


def settings_schema() -> dict[str, Any]:
    """Flat JSON schema of every setting (``completion.maxTokens`` → type, default, description)."""
    schema: dict[str, Any] = {}

    def walk(section: Any, prefix: str) -> None:
        for spec in dataclasses.fields(section):
            value = getattr(section, spec.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{camel(spec.name)}.")
                continue
            kind = {"bool": "boolean", "int": "integer", "float": "number"}.get(spec.type, "string")
            if spec.type.startswith("tuple"):
                kind, value = "array", list(value)
            entry = {"type": kind, "default": value, "description": spec.metadata["description"]}
            if kind == "array":
                entry["items"] = {"type": "string"}
            for key in ("minimum", "maximum", "pattern"):
                if spec.metadata[key] is not None:
                    entry[key] = spec.metadata[key]
            if spec.metadata["choices"]:
                where = entry["items"] if kind == "array" else entry  # an array's items take the choices
                where["enum"] = list(spec.metadata["choices"])
            schema[prefix + camel(spec.name)] = entry

    walk(Settings(), "")
    return schema


SETTINGS_BEGIN, SETTINGS_END = "<!-- settings: generated from lsp_server/settings.py -->", "<!-- settings: end -->"


def settings_table() -> str:
    """The README's settings table, from :func:`settings_schema` (``python -m infill_lsp.settings``
    writes it into README.md; a test checks that it is there)."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for key, entry in settings_schema().items():
        bounds = f" ({entry['minimum']}–{entry['maximum']})" if "maximum" in entry else ""
        description = entry["description"].replace("|", "\\|")
        rows.append(f"| `{key}` | `{json.dumps(entry['default'])}` | {description}{bounds} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text(encoding="utf-8")
    before, _, rest = text.partition(SETTINGS_BEGIN + "\n")
    _, _, after = rest.partition(SETTINGS_END)
    updated = before + SETTINGS_BEGIN + "\n" + settings_table() + "\n" + SETTINGS_END + after
    if "--check" in sys.argv:
        sys.exit(0 if updated == text else "README.md's settings table is stale: run python -m infill_lsp.settings")
    readme.write_text(updated, encoding="utf-8")
