"""Upstream adapters: each speaks one wire format and maps its failures onto our error set.

Importing the package registers every adapter with :func:`create_provider` (the kind ->
class registry in :mod:`.base`), so no module here imports an adapter by name.
"""

from . import anthropic, ollama, openai_compat
from .base import Provider, create_provider, provider_kind, registered_kinds
from .call import ProviderCall, UsageSeen
from .http import HttpProvider
from .simulated import SimulatedProvider

__all__ = [
    "HttpProvider",
    "Provider",
    "ProviderCall",
    "SimulatedProvider",
    "UsageSeen",
    "create_provider",
    "provider_kind",
    "registered_kinds",
]
# The adapters register themselves as they load; named here so the imports read as used.
_ADAPTERS = (anthropic, ollama, openai_compat)
