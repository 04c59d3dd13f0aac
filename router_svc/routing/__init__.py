"""Choosing models for a request (classify, policy) and walking the chain (failover, retry).

Import from the submodules. Routing depends on the registry and config, never the reverse: the
breaker, the per-model statistics and the policies they follow live below both.
"""
