"""Alembic migrations of the usage ledger; applied by :func:`metrics_svc.schema.upgrade`."""
