"""Usage events and their durable delivery to the metrics service.

One module per concept: :mod:`.event` (the record of one attempt), :mod:`.records` (its one
protobuf conversion), :mod:`.store` (the SQLite outbox file), :mod:`.writer` (group commits),
:mod:`.dead_letter` (events that cannot be made records), :mod:`.shipper` (batching,
shipping, backoff).
"""

from .dead_letter import event_of
from .event import UsageEvent
from .records import from_record, to_record
from .shipper import MAX_BATCH_BYTES, OutboxStats, UsageOutbox
from .store import OutboxStore

__all__ = [
    "MAX_BATCH_BYTES",
    "OutboxStats",
    "OutboxStore",
    "UsageEvent",
    "UsageOutbox",
    "event_of",
    "from_record",
    "to_record",
]
