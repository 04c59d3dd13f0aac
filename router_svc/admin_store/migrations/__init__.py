"""Alembic migrations of the router's admin store; applied by
:func:`router_svc.admin_store.schema.upgrade`."""
