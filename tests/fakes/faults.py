"""Deterministic damage to a batch's result lines, shared by the OpenAI, Gemini and Anthropic fakes.

A provider that loses, repeats or reorders result lines must not make the server lose or
double-count records. `ResultFaults` describes such damage; each fake applies it to the lines it
is about to hand out (a results file, a results stream, inline responses), so a test can check
what the server's job engine makes of them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

Line = TypeVar("Line")


@dataclass(frozen=True)
class ResultFaults:
    """`drop` and `duplicate` name lines by their id (custom_id, key); `drop_every` and
    `duplicate_every` pick every Nth line (1-based) of the lines as the fake would have handed
    them out, which also reaches lines without an id. `shuffle` then reorders what is left in a
    fixed way that always differs from the undamaged order when the lines left are not all equal."""

    drop: Collection[str] = ()
    duplicate: Collection[str] = ()
    drop_every: int = 0
    duplicate_every: int = 0
    shuffle: bool = False

    def apply(self, lines: list[Line], line_id: Callable[[Line], str | None]) -> list[Line]:
        damaged: list[Line] = []
        for number, line in enumerate(lines, 1):
            ident = line_id(line)
            if ident in self.drop or _nth(number, self.drop_every):
                continue
            damaged.append(line)
            if ident in self.duplicate or _nth(number, self.duplicate_every):
                damaged.append(line)
        return _reordered(damaged) if self.shuffle else damaged


def _nth(number: int, every: int) -> bool:
    return every > 0 and number % every == 0


def _reordered(lines: list[Line]) -> list[Line]:
    # Seeded by the count alone, so the same input always comes out the same way.
    order = list(range(len(lines)))
    random.Random(len(lines)).shuffle(order)
    shuffled = [lines[index] for index in order]
    # Rotating by one changes any list whose lines are not all equal.
    return lines[1:] + lines[:1] if shuffled == lines else shuffled
