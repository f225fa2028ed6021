"""What an inference server's cache holds of this user's prompts, mirrored from what was sent.

The prompt planner asks how much of a prompt is cached; a remote server cannot be asked that
per keystroke, so the answer comes from here. llama-server keeps one prompt per slot: a user
with two slots (``--engine-slot N`` takes N and N+1 when the server has them) gets what the
in-process engine has with its two KV sequences, keystrokes in one and the full prompt growing
in the other. vLLM's prefix cache keeps blocks of many recent prompts, so several are mirrored.
The mirror can only be as right as the server is faithful: the timings of every answer say
what was really reused, and a failure or cancellation forgets what is no longer sure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infill_lsp.engine.kv_reuse import common_prefix_length

RECENT_PROMPTS = 8
"""Prompts mirrored for a server that caches beyond slots (vLLM's prefix blocks)."""


@dataclass
class Holder:
    """One place the server keeps a prompt: a slot (None: the slot the server picks)."""

    slot: int | None
    tokens: list[int] = field(default_factory=list)
    used: int = 0
    """When a foreground request last used it (a counter)."""


class CacheMirror:
    """The server's cached prompts of this user, and where the next request should go."""

    def __init__(self, slots: list[int | None], *, keeps_many: bool = False) -> None:
        """``slots``: this user's slots; ``keeps_many``: the server caches recent prompts beyond
        any slot (then ``slots`` is ``[None]`` and up to ``RECENT_PROMPTS`` are mirrored)."""
        self.keeps_many = keeps_many
        self.holders = [Holder(slot) for slot in slots]
        self._clock = 0

    def reusable(self, tokens: list[int]) -> int:
        """The longest prefix of ``tokens`` the server holds in any of this user's places."""
        return max((common_prefix_length(tokens, holder.tokens) for holder in self.holders), default=0)

    def choose(self, tokens: list[int], *, beside: bool = False) -> Holder | None:
        """Where ``tokens`` should go: the place holding most of it. ``beside``: not the place
        of the last foreground request, unless the prompt only extends what it holds there;
        None when there is no such place (``no_room``)."""
        if self.keeps_many:
            return self._recent_holder(tokens)
        last = max(self.holders, key=lambda holder: holder.used)
        candidates = [holder for holder in self.holders
                      if not beside or holder is not last or tokens[:len(holder.tokens)] == holder.tokens]
        if not candidates:
            return None
        return max(candidates, key=lambda holder: (common_prefix_length(tokens, holder.tokens), holder.used))

    def hold(self, holder: Holder, tokens: list[int], *, foreground: bool) -> None:
        """``holder`` now holds ``tokens``."""
        holder.tokens = list(tokens)
        if foreground:
            self._clock += 1
            holder.used = self._clock

    def cancelled(self, holder: Holder, sent: list[int]) -> None:
        """A request for ``sent`` in ``holder`` was closed early: the server kept at least the
        prefix ``sent`` shares with what it held (it may have evaluated more, but not surely)."""
        holder.tokens = holder.tokens[:common_prefix_length(holder.tokens, sent)]

    def forget(self) -> None:
        """What the server holds is no longer known (it failed, or restarted)."""
        for holder in self.holders:
            holder.tokens = []

    def _recent_holder(self, tokens: list[int]) -> Holder:
        for holder in self.holders:
            if tokens[:len(holder.tokens)] == holder.tokens:
                return holder  # extends it: the blocks it had stay
        if len(self.holders) >= RECENT_PROMPTS:
            self.holders.remove(min(self.holders, key=lambda holder: holder.used))
        self.holders.append(Holder(None))
        return self.holders[-1]

