"""Which KV sequence a prompt goes to: the one it continues, else the least recently used one."""

from __future__ import annotations

from infill_lsp.engine.kv_reuse import common_prefix_length
from infill_lsp.engine.sequences import Sequence, choose


def holding(number: int, tokens: list[int], used: int) -> Sequence:
    return Sequence(number, list(tokens), prompt_length=len(tokens), last_used=used)


def reuse_of(prompt: list[int]):
    return lambda sequence: common_prefix_length(sequence.tokens, prompt)


def test_a_keystroke_goes_to_the_sequence_holding_its_prompt_even_if_used_less_recently():
    typing = holding(0, [1, 2, 3, 4], used=1)
    growing = holding(1, [9, 9, 9, 9, 9, 9], used=2)
    assert choose([typing, growing], reuse_of([1, 2, 3, 4, 5])) is typing
    assert choose([typing, growing], reuse_of([9, 9, 9, 9, 9, 9, 9])) is growing


def test_another_document_replaces_the_least_recently_used_prompt():
    older = holding(0, [1, 2, 3, 4], used=1)
    newer = holding(1, [5, 6, 7, 8], used=2)
    assert choose([older, newer], reuse_of([7, 7, 7])) is older


def test_an_empty_sequence_is_filled_before_any_prompt_is_replaced():
    held = holding(0, [1, 2, 3, 4], used=5)
    empty = Sequence(1)
    assert choose([held, empty], reuse_of([8, 8])) is empty


def test_background_work_never_cuts_back_the_prompt_of_the_last_request():
    # The full prompt shares its head with the short one (cached repository context): it would
    # "continue" it, but evaluating it there would cut the short prompt's window away.
    short = holding(0, [1, 2, 3, 4, 5, 6, 7, 8], used=2)
    other = holding(1, [9, 9], used=1)
    full = [1, 2, 3, 4, 5, 20, 21, 22, 23, 24]
    assert choose([short, other], reuse_of(full)) is short  # a request of the user's may
    assert choose([short, other], reuse_of(full), keep_whole=short) is other
    # Extending the last request's prompt (the suggestion computed ahead) keeps it whole: allowed.
    assert choose([short, other], reuse_of(short.tokens + [30]), keep_whole=short) is short


def test_a_prompt_sharing_a_long_head_with_a_grown_prompt_goes_there_not_to_an_empty_sequence():
    # The shortened prompt keeps the repository context a grown prompt holds in place: it is
    # evaluated after that context, not from scratch elsewhere.
    grown = holding(0, list(range(200)), used=2)
    short = holding(1, [500, 501, 502], used=1)
    prompt = list(range(90)) + [900, 901]
    assert choose([grown, short], reuse_of(prompt)) is grown
    assert choose([grown, Sequence(1, last_used=0)], reuse_of(prompt)) is grown
    # An empty sequence is filled before a prompt is replaced, even one used less recently.
    assert choose([holding(0, [7, 7], used=1), Sequence(1, last_used=3)], reuse_of([8, 8])).id == 1
