"""Post-processing rules, written as the user sees the text: ``║`` marks the cursor.

Each case feeds the raw model output token by token (character by character here) and checks
what the user is shown and that generation stopped at the right moment.
"""

import pytest

from infill_lsp.context import CursorSnapshot
from infill_lsp.fim.postprocess import cursor_line, shape


def run(document: str, raw: str, multiline: str = "auto", speculative: bool = False, rules_off: tuple = ()):
    """Feed ``raw`` one character at a time, as the engine would; return (shown, consumed)."""
    prefix, suffix = document.split("║")
    ctx = cursor_line(CursorSnapshot.of(prefix, suffix), multiline, speculative=speculative, rules_off=rules_off)
    for end in range(1, len(raw) + 1):
        shaped = shape(raw[:end], ctx)
        if shaped.done:
            return shaped.text, end
    return shape(raw, ctx, final=True).text, len(raw)


def test_single_line_after_code_stops_at_newline_without_generating_more():
    shown, consumed = run("x = ║\n", "compute(a, b)\nprint(x)\n")
    assert shown == "compute(a, b)"
    assert consumed == len("compute(a, b)\n")


def test_a_rule_switched_off_no_longer_cuts_and_the_others_still_do():
    # Without the single-line rule, the line suffix rule still ends the first line where ``)`` follows.
    shown, _ = run("x = ║\n", "compute(a, b)\nprint(x)\n", rules_off=("singleLine",))
    assert shown == "compute(a, b)\nprint(x)"
    shown, _ = run("total = sum(║)\n", "values)\n", rules_off=("singleLine",))
    assert shown == "values"
    shown, _ = run("total = sum(║)\n", "values)\n", rules_off=("singleLine", "lineSuffix", "unbalancedCloser"))
    assert shown == "values)"


def test_line_suffix_already_typed_is_not_repeated():
    shown, _ = run("total = sum(║)\n", "values)\n")
    assert shown == "values"


def test_line_suffix_overlap_at_end_of_stream():
    shown, _ = run("call(║)", "a, b)")
    assert shown == "a, b"


def test_multiline_on_blank_line_stops_at_dedent():
    document = "def area(r):\n    ║\n\nprint(area(2))\n"
    shown, consumed = run(document, "import math\n    return math.pi * r * r\n\ndef other():\n    pass\n")
    assert shown == "import math\n    return math.pi * r * r"
    assert consumed < len("import math\n    return math.pi * r * r\n\ndef other():\n    pass\n")


def test_on_a_blank_line_the_suggestion_ends_where_it_leaves_its_first_lines_block():
    document = "def fraction(number):\n    whole = int(number)\n║"
    raw = "    return number - whole\n\n# Test the function\nprint(fraction(1.5))\n"
    shown, consumed = run(document, raw)
    assert shown == "    return number - whole"
    assert consumed < len(raw)
    # The first line sets the block: the lines inside it stay.
    raw = "    if number < 0:\n        whole -= 1\n    return number - whole\nprint(1)\n"
    shown, _ = run(document, raw)
    assert shown == "    if number < 0:\n        whole -= 1\n    return number - whole"


def test_multiline_after_block_opener_keeps_body_and_stops_at_same_indent():
    document = "def area(r):║\n"
    shown, _ = run(document, "\n    return 3.14 * r * r\ndef next_one():\n")
    assert shown == "\n    return 3.14 * r * r"


def test_block_closing_bracket_is_kept_when_suffix_lacks_it():
    document = "values = [║\n"
    shown, _ = run(document, "\n    1,\n    2,\n]\nprint(values)\n")
    assert shown == "\n    1,\n    2,\n]"


def test_stops_before_a_line_that_already_follows_the_cursor():
    document = "def f(x):\n    ║\n    return y\n"
    shown, _ = run(document, "y = x * 2\n    return y\n")
    assert shown == "y = x * 2"


def test_repeated_line_loop_is_cut_to_one_copy():
    document = "items = []\n║\n"
    shown, _ = run(document, "items.append(1)\nitems.append(1)\nitems.append(1)\nitems.append(1)\n", "always")
    assert shown == "items.append(1)"


def test_repeated_block_loop_is_cut_to_one_copy():
    document = "║\n"
    block = "a = 1\nb = 2\n"
    shown, _ = run(document, block * 3, "always")
    assert shown == "a = 1\nb = 2"


def test_unbalanced_closer_provided_by_suffix_is_dropped():
    shown, _ = run("print(len(║))\n", "items)) + 1\n")
    assert shown == "items"


def test_closer_opened_before_the_cursor_is_kept_when_suffix_has_none():
    shown, _ = run("print(len(items║\n", ")\n")
    assert shown == ")"


def test_brackets_inside_strings_do_not_count():
    shown, _ = run("log(║)\n", "\"a)\" + b)\n")
    assert shown == "\"a)\" + b"


@pytest.mark.parametrize(
    ("document", "setting", "expected"),
    [
        ("def f():\n    ║\n", "auto", True),
        ("if ready:║\n", "auto", True),
        ("x = foo(║)\n", "auto", False),
        ("name = ║ + 1\n", "auto", False),
        ("name = ║\n", "always", True),
        ("    ║\n", "never", False),
    ],
)
def test_multiline_decision(document, setting, expected):
    prefix, suffix = document.split("║")
    assert cursor_line(CursorSnapshot.of(prefix, suffix), setting).multiline is expected


def test_trailing_whitespace_is_trimmed_at_the_end():
    shown, _ = run("x = ║\n", "42   ")
    assert shown == "42"


def test_settled_text_never_exceeds_what_is_shown_and_holds_back_possible_overlap():
    prefix, suffix = "x = ║  # total\n".split("║")
    shaped = shape("a + b  # t", cursor_line(CursorSnapshot.of(prefix, suffix)))
    assert not shaped.done
    assert shaped.text[: shaped.settled] == "a + b  "


def test_after_an_accepted_line_the_suggestion_computed_ahead_may_be_the_next_line():
    shown, consumed = run("import os║\n", "\nimport sys\nimport re\n", speculative=True)
    assert shown == "\nimport sys"
    assert consumed == len("\nimport sys\n")
    assert run("import os║\nimport sys\n", "\nimport sys\n", speculative=True)[0] == ""  # already there
    assert run("call(a║)\n", "\nb)\n", speculative=True)[0] == ""  # code after the cursor
    assert run("import os║\n", "\nimport sys\n") == ("", 1)  # while typing: nothing, at once
