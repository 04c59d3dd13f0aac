"""Choosing models for a request (classify, policy) and walking the chain (failover, breaker).

Import from the submodules; this package re-exports nothing so that the registry can use the
breaker without importing the engine.
"""
