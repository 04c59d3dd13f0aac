"""Transport failures as our errors: aiohttp's, asyncio's and the resolver's exceptions mapped
onto :mod:`router_svc.errors` at the transport's boundary (as httpx maps httpcore's)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import aiohttp

from ..errors import ConnectionFailed, MalformedResponse, ProviderError, UpstreamTimeout
from ..urls import AddressRefused

__all__ = ["TRANSPORT_ERRORS", "classify_transport", "map_transport_errors"]


def _connector(provider: str, exc: BaseException) -> ProviderError:
    refused = getattr(exc, "os_error", None)
    if isinstance(refused, AddressRefused):
        # Vetted at connect time (DNS rebinding): say why, without the resolver's errno.
        return ConnectionFailed(f"{provider} not connected: {refused.strerror}")
    return _failed(provider, exc)


def _timed_out(provider: str, exc: BaseException) -> ProviderError:
    return UpstreamTimeout(f"{provider} timed out ({type(exc).__name__})")


def _cut_short(provider: str, exc: BaseException) -> ProviderError:
    return ConnectionFailed(f"{provider} cut the response short")


def _failed(provider: str, exc: BaseException) -> ProviderError:
    return ConnectionFailed(f"{provider} connection failed ({type(exc).__name__})")


# The names in these two messages are the httpx types these failures used to be reported as,
# kept so that logs and alerts matching on them still match.
def _read_timeout(provider: str, exc: BaseException) -> ProviderError:
    return UpstreamTimeout(f"{provider} timed out (ReadTimeout)")


def _not_sent(provider: str, exc: BaseException) -> ProviderError:
    # aiohttp refuses a header value with control characters (a key read from a file with its
    # newline, say): the request never left. The value is not quoted: it may be the key.
    return ConnectionFailed(f"{provider} connection failed (LocalProtocolError)")


_Build = Callable[[str, BaseException], ProviderError]

TRANSPORT_ERRORS: tuple[tuple[type[BaseException], _Build], ...] = (
    # First match wins: aiohttp's specific classes before aiohttp.ClientError, which comes
    # before TimeoutError because aiohttp's timeouts are TimeoutErrors too.
    (aiohttp.ClientConnectorError, _connector),
    (aiohttp.ServerTimeoutError, _timed_out),
    (aiohttp.ClientPayloadError, _cut_short),
    (aiohttp.ClientError, _failed),
    (TimeoutError, _read_timeout),
    (ValueError, _not_sent),
)
"""(transport exception type, our error for it given the provider's name), in match order."""

_CAUGHT = tuple(kind for kind, _ in TRANSPORT_ERRORS)


def classify_transport(provider: str, exc: BaseException) -> ProviderError:
    """Our error for a transport exception (one of :data:`TRANSPORT_ERRORS`' types)."""
    for kind, build in TRANSPORT_ERRORS:
        if isinstance(exc, kind):
            return build(provider, exc)
    return _failed(provider, exc)


class map_transport_errors:  # lower case: used like the function it was
    """Raise our error in place of any transport exception raised inside the block.

    ``reading``: the block reads a response, so the request was sent; a ValueError there is
    an answer that cannot be decoded (MalformedResponse), not a request that never left.
    """

    # A class, not a @contextmanager generator: it wraps every upstream call (twice per unary
    # call), and the generator's frames, objects and next() calls were ~1 µs of each.
    __slots__ = ("_provider", "_reading")

    def __init__(self, provider: str, *, reading: bool = False) -> None:
        self._provider = provider
        self._reading = reading

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, _CAUGHT):
            return
        provider = self._provider
        if self._reading and type(exc) is ValueError:
            raise MalformedResponse(f"{provider} sent a response that cannot be read") from None
        # Not chained: aiohttp's messages name hosts and addresses the caller need not see.
        raise classify_transport(provider, exc) from None
