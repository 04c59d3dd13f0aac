"""Token counts as upstreams report them, read by one rule for every provider kind.

A count is **readable** when it is an integer from 0 to :data:`MAX_TOKEN_COUNT`; a JSON number
without a fraction (``300.0``) is that integer (JSON does not tell 300 from 300.0, and a server
that computes counts in floating point sends it). ``null`` or an absent key is **not
reported**. Anything else — a string, a boolean, a fraction, a negative number, a number above
the bound, a details object that is not an object — is **unreadable**, and the usage object
that holds it is malformed. What becomes of it depends on where it is (README, "Usage"):

* in a whole answer: the answer is a ``MALFORMED_RESPONSE`` (the request fails over), and the
  failed attempt is billed the counts that were readable (:class:`MalformedUsage`);
* in a stream, before any content was relayed: the chunk is unreadable, so the stream is a
  ``MALFORMED_RESPONSE`` too (the readable counts stay billed to the failed attempt);
* in a stream after content: the chunk's other parts and readable counts are kept, and an
  unreadable count counts as not reported (:meth:`Counts.settled`).

Wherever a count the router bills is not one the upstream reported readably, the usage is
marked estimated (``TokenUsage.estimated``, the record's ``usage_estimated``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from llmrouter.field_limits import MAX_TOKEN_COUNT

__all__ = ["MAX_TOKEN_COUNT", "Counts", "MalformedUsage", "UnreadableCount", "count"]


class UnreadableCount(ValueError):
    """A value where a token count belongs that is not one (see the module's rule)."""


class MalformedUsage(ValueError):
    """A whole answer whose usage holds unreadable counts, ``fields`` (their names). A shape
    error like the others (``ValueError``): the answer is a ``MalformedResponse``."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(sorted(fields))
        super().__init__(", ".join(self.fields))


def count(value: Any) -> int | None:
    """``value`` as a token count; None when not reported (null); :class:`UnreadableCount`
    when unreadable."""
    if value is None:
        return None
    if type(value) is int:
        number = value
    elif type(value) is float and value.is_integer():
        number = int(value)
    else:  # bool (an int subclass), str, a fraction, NaN, a list...
        raise UnreadableCount
    if not 0 <= number <= MAX_TOKEN_COUNT:
        raise UnreadableCount
    return number


class Counts:
    """What one usage report, or a stream's reports so far, said: each readable count by its
    name (``values``), and the names whose latest report was unreadable (``unreadable``)."""

    __slots__ = ("unreadable", "values")

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.unreadable: set[str] = set()

    def read(self, name: str, value: Any) -> None:
        """Take ``value`` as the count ``name`` (nothing when not reported)."""
        try:
            number = count(value)
        except UnreadableCount:
            self.unreadable.add(name)
            return
        if number is not None:
            self.values[name] = number
            self.unreadable.discard(name)

    def merge(self, later: Counts) -> None:
        """Take a later report: its readable counts replace these; a count it sent unreadable
        is unreadable now (the value reported before it is kept, as the least it was)."""
        self.values.update(later.values)
        self.unreadable -= later.values.keys()
        self.unreadable |= later.unreadable

    @property
    def reported(self) -> bool:
        """Whether any count was reported (readable or not)."""
        return bool(self.unreadable) or any(self.values.values())

    def get(self, name: str) -> int:
        """The count ``name`` as readably reported (0 when not)."""
        return self.values.get(name, 0)

    def settled(self, name: str, estimate: Callable[[], int] | None = None) -> tuple[int, bool]:
        """The count ``name`` to bill, and whether it is the router's: the upstream's when it
        reported a positive count readably; else the larger of ``estimate()`` (0 without one)
        and what it reported before an unreadable report, which is the router's when it
        differs from what was reported or the report was unreadable."""
        reported = self.values.get(name, 0)
        unreadable = name in self.unreadable
        if reported and not unreadable:
            return reported, False
        value = max(estimate() if estimate is not None else 0, reported)
        return value, unreadable or value != reported
