"""The provider interface every adapter implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import replace

from ..chat import ChatRequest, Completion, StreamEvent
from ..config import ProviderConfig
from ..urls import AddressPolicy

__all__ = ["Provider", "create_provider"]


class Provider(abc.ABC):
    """One upstream endpoint. Instances live for the whole process (pooled connections)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self.kind = config.kind
        self.local = config.local

    @abc.abstractmethod
    async def complete(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        """Answer ``request`` with upstream model ``model`` within ``read_timeout`` seconds.

        Raises a :class:`router_svc.errors.ProviderError` subclass on failure.
        """

    @abc.abstractmethod
    def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncIterator[StreamEvent]:
        """Stream the answer: deltas, then exactly one ``StreamEnd``.

        ``read_timeout`` bounds the wait for each upstream read. Raises a ``ProviderError`` subclass
        on failure, before or after the first delta; a stream that ends without ``StreamEnd``
        is reported as a failure by the caller, never as a complete answer.
        """

    def set_base_url(self, url: str) -> None:
        """Send requests to ``url`` from now on (the caller has validated it)."""
        self.config = replace(self.config, base_url=url)
        self._rebase(url)

    def _rebase(self, url: str) -> None:
        """Point pooled clients at ``url`` (adapters without one have nothing to do)."""
        return None

    async def aclose(self) -> None:
        """Release pooled connections."""
        return None

    @property
    def address(self) -> str:
        """Host of the upstream, for traces (``server.address``)."""
        return self.config.base_url.split("://", 1)[-1].split("/", 1)[0]


def create_provider(config: ProviderConfig, policy: AddressPolicy | None = None) -> Provider:
    """Build the adapter for ``config.kind``; HTTP adapters connect only where ``policy``
    admits (default: public addresses only)."""
    if config.kind == "simulated":
        from .simulated import SimulatedProvider

        return SimulatedProvider(config)
    if config.kind == "openai":
        from .openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(config, policy)
    if config.kind == "anthropic":
        from .anthropic import AnthropicProvider

        return AnthropicProvider(config, policy)
    from .ollama import OllamaProvider

    return OllamaProvider(config, policy)
