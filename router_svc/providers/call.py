"""The inputs of one upstream call, as one value: adding an input never breaks a signature."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field

from llmrouter.values import frozen

from ..chat import ChatRequest, TokenUsage

__all__ = ["ProviderCall", "UsageSeen"]


class UsageSeen:
    """The usage a stream reported before its end (Anthropic's ``message_start`` and
    ``message_delta`` counts): what the attempt is billed if it is abandoned (the caller left,
    a cut, a timeout) before its ``StreamEnd``. The stream's decoder is watched, not copied
    per chunk: the usage is built only when it is read, once, when the attempt is settled."""

    __slots__ = ("_read",)

    def __init__(self) -> None:
        self._read: Callable[[], TokenUsage | None] | None = None

    def watch(self, read: Callable[[], TokenUsage | None]) -> None:
        """Take the usage from ``read`` (a stream decoder's ``seen``) whenever it is asked."""
        self._read = read

    @property
    def usage(self) -> TokenUsage | None:
        """The usage the upstream reported so far (None: none, or no stream yet)."""
        return None if self._read is None else self._read()


@frozen
class ProviderCall:
    """What :meth:`Provider.complete` and :meth:`Provider.stream` are asked to do."""

    model: str
    """The upstream's own model id (the registry entry's ``upstream_model``)."""

    request: ChatRequest
    """The caller's request; its content is also what upstream error messages must not echo."""

    read_timeout: float
    """Seconds each upstream read may wait: at most the time left for this attempt. Connecting
    waits no longer than this nor than the provider's ``connect_timeout_s``."""

    prefill: str = ""
    """Assistant text already relayed to the client: when set, the upstream is asked to
    continue it (adapters whose API can, see ``Provider.continues``) and streams what follows."""

    finish_grace_s: float = 1.0
    """Streams: seconds to wait for the rest of a stream (its usage, its end marker) once it
    sent its finish reason; a stream silent for longer is finalised as it stands."""

    trace_headers: Mapping[str, str] | None = None
    """Trace-context headers (``traceparent``, baggage) to send; ``None`` takes them from the
    OpenTelemetry context current when the request goes out (the attempt's span)."""

    seen: UsageSeen = field(default_factory=UsageSeen)
    """Streams: where the decoder notes the usage the upstream reported so far."""
