"""The usage ledger service: stores every attempt and answers cost questions over gRPC.

Batch policy of ``RecordUsage``: a batch is stored whole or not at all. Records are keyed by
id, so a replayed record is counted as a duplicate and never stored twice. One invalid record
rejects the whole batch with INVALID_ARGUMENT, nothing written, and the error names every bad
field (``records[3].prompt_tokens``...) in a ``BadRequest`` detail. The router's outbox then
ships that batch's records one by one and sets aside those still rejected, so one bad record
never blocks the rest of the ledger.

The schema comes from the Alembic migrations in ``metrics_svc/migrations``, applied at start
(or alone with ``python -m metrics_svc --migrate-only``).
"""

# The public names of each module, re-exported by their modules' own __all__ (listing them again
# here was a copy that could drift).
from metrics_svc import config, costs, errors, fallbacks, provider_health, records, repository
from metrics_svc.config import *  # noqa: F403
from metrics_svc.costs import *  # noqa: F403
from metrics_svc.errors import *  # noqa: F403
from metrics_svc.fallbacks import *  # noqa: F403
from metrics_svc.provider_health import *  # noqa: F403
from metrics_svc.records import *  # noqa: F403
from metrics_svc.repository import *  # noqa: F403

__all__ = [
    *config.__all__,
    *costs.__all__,
    *errors.__all__,
    *fallbacks.__all__,
    *provider_health.__all__,
    *records.__all__,
    *repository.__all__,
]
