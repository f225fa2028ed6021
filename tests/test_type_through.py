"""Type-through, written as the user sees it: ``║`` is the cursor."""

from lsp_server.type_through import TypeThrough


def split(document: str) -> tuple[str, str]:
    prefix, suffix = document.split("║")
    return prefix, suffix


def test_typing_the_suggestion_keeps_the_rest_without_the_model():
    memory = TypeThrough()
    memory.remember("a.py", *split("total = ║\n"), "price * quantity")
    assert memory.continuation("a.py", *split("total = pri║\n")) == "ce * quantity"
    assert memory.continuation("a.py", *split("total = price * ║\n")) == "quantity"


def test_typing_something_else_or_editing_elsewhere_needs_the_model():
    memory = TypeThrough()
    memory.remember("a.py", *split("total = ║\n"), "price * quantity")
    assert memory.continuation("a.py", *split("total = cost║\n")) is None
    assert memory.continuation("a.py", *split("total = pri║\nprint(total)\n")) is None
    assert memory.continuation("a.py", *split("total = ║\n")) is None  # nothing typed: ask again
    assert memory.continuation("a.py", *split("total = price * quantity║\n")) is None  # all accepted
    assert memory.continuation("b.py", *split("total = pri║\n")) is None


def test_documents_are_forgotten_on_close_and_memory_is_bounded():
    memory = TypeThrough()
    memory.remember("a.py", "x = ", "", "1 + 2")
    memory.forget("a.py")
    assert memory.continuation("a.py", "x = 1", "") is None
    for index in range(100):
        memory.remember(f"{index}.py", "x = ", "", "1 + 2")
    assert memory.continuation("0.py", "x = 1", "") is None
    assert memory.continuation("99.py", "x = 1", "") == " + 2"


def test_the_suggestion_computed_ahead_answers_right_after_the_acceptance():
    memory = TypeThrough()
    memory.remember("a.py", *split("total = ║\n"), "price * quantity")
    memory.remember("a.py", *split("total = price * quantity║\n"), "\nprint(total)", speculative=True)
    assert memory.lookup("a.py", *split("total = price * quantity║\n")) == ("\nprint(total)", True)
    assert memory.continuation("a.py", *split("total = price * quantity\npri║\n")) == "nt(total)"
    assert memory.continuation("a.py", *split("total = pri║\n")) == "ce * quantity"  # the shown one still holds
    assert memory.lookup("a.py", *split("total = price * quantity║\nmore\n")) is None


def test_a_suggestion_made_without_the_repository_context_goes_once_the_context_is_in():
    memory = TypeThrough()
    memory.remember("a.py", *split("total = ║\n"), "price * quantity", shortened=True)
    memory.remember("a.py", *split("total = price * quantity║\n"), "\nprint(total)", speculative=True)
    assert memory.continuation("a.py", *split("total = pri║\n")) == "ce * quantity"
    memory.forget_shortened("a.py")  # the full prompt, context included, is cached now
    assert memory.continuation("a.py", *split("total = pri║\n")) is None
    assert memory.lookup("a.py", *split("total = price * quantity║\n")) == ("\nprint(total)", True)
