"""The peer's answer is cut as llama.vim cuts it before showing it: ``║`` marks the cursor."""

from bench.llama_vim import shown


def show(document: str, raw: str) -> str:
    before, after = document.split("║")
    line_suffix, *lines_after = after.split("\n")
    return shown(raw, before.split("\n")[-1], line_suffix, lines_after)


def test_trailing_blank_lines_go_and_everything_else_stays():
    # llama.vim keeps every line the server sent: nothing ends the answer at the hole's line.
    assert show("x = ║\ny = 2\n", "compute()\nz = 3\n\n\n") == "compute()\nz = 3"


def test_an_answer_that_repeats_the_text_after_the_cursor_is_dropped():
    assert show("total = sum(║values)\n", "values)") == ""
    assert show("def f():\n    ║\n    return 1\n", "return 1") == ""
    assert show("if ok:\n║\n    run()\n    stop()\n", "\n    run()\n    stop()") == ""
    assert show("if ok:\n    ║\n    run()\n    stop()\n", "run()\n    stop()") == ""


def test_on_a_blank_line_the_answers_indentation_overlaps_the_lines_own():
    assert show("def f():\n    ║\n", "    return 1\n") == "return 1"
    assert show("def f():\n    ║\n", "  return 1\n") == "return 1"


def test_an_empty_answer_shows_nothing():
    assert show("x = ║\n", "\n\n") == ""
    assert show("x = ║\n", "") == ""
