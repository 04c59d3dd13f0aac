"""The provider interface every adapter implements, and the kind -> class registry."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import ClassVar, TypeVar

from ..chat import ChatRequest, Completion, StreamEvent
from ..config import ProviderConfig
from ..embeddings import EmbedCall, Embeddings
from ..errors import BadUpstreamRequest
from ..urls import AddressPolicy
from .call import ProviderCall
from .pool import PoolStats

__all__ = ["Provider", "create_provider", "provider_kind", "registered_kinds"]


class Provider(abc.ABC):
    """One upstream endpoint. Instances live for the whole process (pooled connections)."""

    continues: ClassVar[bool] = False
    """Whether this kind's API continues a final assistant message (``ProviderCall.prefill``)
    by default; a model's ``continuation`` setting overrides it."""

    def __init__(self, config: ProviderConfig, policy: AddressPolicy | None = None) -> None:
        # ``policy`` matters only to adapters that connect somewhere; all take it so that
        # create_provider builds every kind the same way.
        self.config = config
        self.name = config.name
        self.kind = config.kind
        self.local = config.local
        # The upstream connection pool's limit and queue (.pool), for the Prometheus gauges;
        # None for kinds that connect nowhere.
        self.pool: PoolStats | None = None
        # Stream chunks skipped as unreadable (see .lenient), for the Prometheus counter.
        self.skipped_chunks = 0
        # Answers that stopped for a reason the adapter does not know (finished as "stop"), for
        # the Prometheus counter.
        self.unknown_stop_reasons = 0

    @abc.abstractmethod
    async def complete(self, call: ProviderCall) -> Completion:
        """Answer ``call.request`` with upstream model ``call.model`` within its read timeout.

        Raises a :class:`router_svc.errors.ProviderError` subclass on failure.
        """

    max_inputs: ClassVar[int] = 0
    """Embedding kinds: the most inputs one embeddings call of this kind's API carries (a
    model's ``max_inputs_per_request`` overrides it); 0 for kinds without embeddings."""

    async def embed(self, call: EmbedCall) -> Embeddings:
        """Embed ``call.inputs`` with upstream model ``call.model``: one vector per input, in
        order. Raises a :class:`router_svc.errors.ProviderError` subclass on failure; kinds
        without an embeddings API (config refuses embedding models on them) raise
        ``BadUpstreamRequest``."""
        raise BadUpstreamRequest(f"provider kind {self.kind!r} has no embeddings API")

    def refuses(self, request: ChatRequest) -> str:
        """The request field (its ``ChatRequest`` name) this kind's API cannot carry as asked,
        or "": the router does not send the request here rather than drop the field (README,
        "Request fields"). Here: extras (``extra_body``), which only HTTP kinds have a body
        for."""
        return "extra_body" if request.extra_body else ""

    @abc.abstractmethod
    def stream(self, call: ProviderCall) -> AsyncIterator[StreamEvent]:
        """Stream the answer: deltas, then exactly one ``StreamEnd``.

        ``call.read_timeout`` bounds the wait for each upstream read. Raises a ``ProviderError``
        subclass on failure, before or after the first delta; a stream that ends without
        ``StreamEnd`` is reported as a failure by the caller, never as a complete answer.
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


_P = TypeVar("_P", bound=type[Provider])
# Filled by the adapters' modules as they load (the package imports them all), so this module
# never imports an adapter and the adapters may import it.
_KINDS: dict[str, type[Provider]] = {}


def provider_kind(kind: str) -> Callable[[_P], _P]:
    """Class decorator: :func:`create_provider` builds the class for configs of ``kind``."""

    def register(cls: _P) -> _P:
        _KINDS[kind] = cls
        return cls

    return register


def registered_kinds() -> tuple[str, ...]:
    """The provider kinds an adapter is registered for."""
    return tuple(_KINDS)


def create_provider(config: ProviderConfig, policy: AddressPolicy | None = None) -> Provider:
    """Build the adapter for ``config.kind``; HTTP adapters connect only where ``policy``
    admits (default: public addresses only)."""
    try:
        cls = _KINDS[config.kind]
    except KeyError:
        # Config validation admits only known kinds: this is a missing registration.
        raise ValueError(f"no provider adapter for kind {config.kind!r}") from None
    return cls(config, policy)
