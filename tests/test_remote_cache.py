"""Where a prompt goes on an inference server, and what it is known to hold there."""

from __future__ import annotations

from infill_lsp.engine.remote_cache import RECENT_PROMPTS, CacheMirror

TYPED = list(range(100, 160))  # a short prompt the keystrokes extend
FULL = list(range(1000, 1500))  # the full prompt, context first: it shares no prefix with it


def test_with_two_slots_the_full_prompt_grows_beside_the_typing_prompt():
    mirror = CacheMirror([4, 5])
    typing = mirror.choose(TYPED)
    mirror.hold(typing, TYPED, foreground=True)
    growing = mirror.choose(FULL[:200], beside=True)
    assert growing is not typing and growing.slot == 5
    mirror.hold(growing, FULL[:200], foreground=False)
    assert mirror.choose(TYPED + [7]) is typing  # the next keystroke finds its prompt
    assert mirror.reusable(TYPED + [7]) == len(TYPED)
    assert mirror.choose(FULL[:400], beside=True) is growing  # growth goes on where it was
    mirror.hold(growing, FULL, foreground=False)
    assert mirror.choose(FULL + [9]) is growing and mirror.reusable(FULL + [9]) == len(FULL)


def test_with_one_slot_growth_beside_the_typing_prompt_has_no_room_unless_it_extends_it():
    mirror = CacheMirror([0])
    typing = mirror.choose(TYPED)
    mirror.hold(typing, TYPED, foreground=True)
    assert mirror.choose(FULL, beside=True) is None
    assert mirror.choose(TYPED + [1, 2], beside=True) is typing
    assert mirror.choose(FULL) is typing  # in a pause, growth may take the slot


def test_a_prefix_cache_keeps_recent_prompts_and_drops_the_oldest():
    mirror = CacheMirror([None], keeps_many=True)
    prompts = [[n] * 20 + TYPED for n in range(RECENT_PROMPTS + 1)]
    for prompt in prompts:
        mirror.hold(mirror.choose(prompt), prompt, foreground=True)
    assert mirror.reusable(prompts[-1] + [5]) == len(prompts[-1])
    assert mirror.reusable(prompts[1]) == len(prompts[1])
    assert mirror.reusable(prompts[0]) == 0  # the oldest left
    extended = prompts[-1] + [5, 6]
    assert mirror.choose(extended) is mirror.choose(prompts[-1])


def test_a_cancelled_request_keeps_what_it_shares_with_what_was_held():
    mirror = CacheMirror([0, 1])
    growing = mirror.choose(FULL[:300], beside=True)
    mirror.hold(growing, FULL[:300], foreground=False)
    mirror.cancelled(growing, FULL[:400])  # the next piece, closed by a keystroke
    assert mirror.reusable(FULL) == 300
    mirror.cancelled(growing, FULL[:100] + TYPED)  # a different prompt: only the shared head is sure
    assert mirror.reusable(FULL) == 100


def test_a_failure_forgets_what_was_held():
    mirror = CacheMirror([0, 1])
    holder = mirror.choose(TYPED)
    mirror.hold(holder, TYPED, foreground=True)
    mirror.forget()
    assert mirror.reusable(TYPED) == 0
