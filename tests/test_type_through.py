"""Type-through, written as the user sees it: ``║`` is the cursor."""

from infill_lsp.document_state import DocumentStates
from infill_lsp.type_through import TypeThrough


def split(document: str) -> tuple[str, str]:
    prefix, suffix = document.split("║")
    return prefix, suffix


def test_typing_the_suggestion_keeps_the_rest_without_the_model():
    memory = TypeThrough()
    memory.remember(*split("total = ║\n"), "price * quantity")
    assert memory.continuation(*split("total = pri║\n")) == "ce * quantity"
    assert memory.continuation(*split("total = price * ║\n")) == "quantity"


def test_a_held_back_suggestion_shows_its_rest_once_the_user_has_typed_its_start():
    memory = TypeThrough()
    memory.remember(*split("total = ║\n"), "price * quantity", held=True, suggestion_id=4)
    assert memory.continuation(*split("total = p║\n")) is None  # one character may be chance
    entry, rest = memory.find(*split("total = pr║\n"))
    assert (rest, entry.suggestion_id) == ("ice * quantity", 4)
    assert memory.continuation(*split("total = cost║\n")) is None


def test_typing_something_else_or_editing_elsewhere_needs_the_model():
    memory = TypeThrough()
    memory.remember(*split("total = ║\n"), "price * quantity")
    assert memory.continuation(*split("total = cost║\n")) is None
    assert memory.continuation(*split("total = pri║\nprint(total)\n")) is None
    assert memory.continuation(*split("total = ║\n")) is None  # nothing typed: ask again
    assert memory.continuation(*split("total = price * quantity║\n")) is None  # all accepted


def test_a_document_s_memory_goes_when_it_closes_and_other_documents_keep_theirs():
    documents = DocumentStates()
    documents.open("file:///a.py", 1)
    documents.open("file:///b.py", 1)
    documents.state("file:///a.py").type_through.remember("x = ", "", "1 + 2")
    documents.state("file:///b.py").type_through.remember("y = ", "", "3 * 4")
    documents.close("file:///a.py")
    assert documents.get("file:///a.py") is None
    assert documents.state("file:///a.py").type_through.continuation("x = 1", "") is None
    assert documents.state("file:///b.py").type_through.continuation("y = 3", "") == " * 4"


def test_the_suggestion_computed_ahead_answers_right_after_the_acceptance():
    memory = TypeThrough()
    memory.remember(*split("total = ║\n"), "price * quantity")
    memory.remember(*split("total = price * quantity║\n"), "\nprint(total)", speculative=True)
    assert memory.lookup(*split("total = price * quantity║\n")) == ("\nprint(total)", True)
    assert memory.continuation(*split("total = price * quantity\npri║\n")) == "nt(total)"
    assert memory.continuation(*split("total = pri║\n")) == "ce * quantity"  # the shown one still holds
    assert memory.lookup(*split("total = price * quantity║\nmore\n")) is None


def test_a_suggestion_made_without_the_repository_context_goes_once_the_context_is_in():
    memory = TypeThrough()
    memory.remember(*split("total = ║\n"), "price * quantity", shortened=True)
    memory.remember(*split("total = price * quantity║\n"), "\nprint(total)", speculative=True)
    assert memory.continuation(*split("total = pri║\n")) == "ce * quantity"
    memory.forget_shortened()  # the full prompt, context included, is cached now
    assert memory.continuation(*split("total = pri║\n")) is None
    assert memory.lookup(*split("total = price * quantity║\n")) == ("\nprint(total)", True)
