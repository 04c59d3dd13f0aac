"""Usage events the outbox cannot turn into records: kept apart, durable and recoverable.

An event whose record cannot be built (:func:`~.records.to_record` refuses it: a token count out
of range, text that is not UTF-8) is a bug somewhere upstream of the outbox. Written with the
others it would fail their whole group commit every time, so no later record would be written
and billed either. Instead each event is converted on its own (see :mod:`.writer`), and one that
fails goes to the outbox file's ``dead_letter`` table, in the same transaction as the good
records of its group: as durable as they are, it survives restarts and is never shipped. Each is
logged (its id and the error, never its fields) and counted
(``llmrouter_outbox_dead_letters_total``). The row holds every field of the event as JSON
(:func:`dead_letter_row`), which :func:`event_of` reads back into the event, so an operator can
repair and resubmit it::

    sqlite3 router-outbox.sqlite3 "SELECT seq, id, error, event FROM dead_letter"
"""

from __future__ import annotations

import dataclasses
import json
import time

from .event import UsageEvent

__all__ = ["DeadLetter", "dead_letter_row", "event_of"]

# A dead-letter row: (record id, the event as JSON, the error, wall-clock seconds).
DeadLetter = tuple[str, str, str, float]


def dead_letter_row(event: UsageEvent, error: BaseException) -> DeadLetter:
    """The ``dead_letter`` row of ``event``, which could not be converted for ``error``. Never
    raises: whatever the event holds (integers of any size, lone surrogates, NaN) is kept by
    JSON with ASCII escapes; a field JSON cannot hold at all is kept as its ``repr``."""
    fields = dataclasses.asdict(event)
    try:
        text = json.dumps(fields, ensure_ascii=True, default=repr)
    except (TypeError, ValueError):  # a metadata key that is not a string, say
        text = json.dumps({"repr": repr(event)})
    return (_text(event.id), text, _text(f"{type(error).__name__}: {error}"), time.time())


def event_of(text: str) -> UsageEvent:
    """The event a ``dead_letter`` row's JSON holds (``KeyError``, ``TypeError`` when it is
    not one, as for a ``repr`` fallback)."""
    return UsageEvent(**json.loads(text))


def _text(value: str) -> str:
    """``value`` as text SQLite can store (UTF-8): what cannot be encoded is escaped."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
