"""The exact-match response cache (README, "Response cache").

Modules: :mod:`.config` (``[router.cache]``), :mod:`.key` (what a request is looked up by),
:mod:`.entry` (a stored answer), :mod:`.store` (Redis or in-process), :mod:`.serving` (the
cache in front of the failover engine). Nothing is imported here: the router's config imports
:mod:`.config` before the registry exists, which :mod:`.serving` needs.
"""
