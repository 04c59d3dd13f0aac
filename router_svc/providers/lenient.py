"""Reading a stream leniently: where one bad chunk or a missing end marker loses nothing.

Each adapter's :class:`StreamDecoder` turns one event payload (an SSE ``data`` value or an
NDJSON line) into our events; :func:`decode` drives it over the payloads with these rules:

* A chunk that cannot be read (:class:`Garbled`) after the first content is skipped and
  counted (``Provider.skipped_chunks``, the attempt span's :data:`SKIPPED_ATTRIBUTE`); its
  content is never logged. Before the first content it is the stream's failure (the request
  fails over), and so are more than :data:`MAX_SKIPPED_IN_A_ROW` bad chunks in a row.
* A stream that ends, breaks or falls silent (for ``finish_grace_s``) after it sent its finish
  reason (and its usage, if it sends any) is finalised as a success with that usage, although
  its end marker (``[DONE]``, ``message_stop``, ``done: true``) never came.
* Everything else that goes wrong is a classified :class:`~router_svc.errors.ProviderError`;
  no other exception leaves :func:`decode`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable

from opentelemetry import trace

from ..chat import StreamDelta, StreamEnd, StreamEvent, TokenUsage
from ..errors import MalformedResponse, ProviderError
from .call import UsageSeen

__all__ = ["MAX_SKIPPED_IN_A_ROW", "SKIPPED_ATTRIBUTE", "Garbled", "StreamDecoder", "decode"]

MAX_SKIPPED_IN_A_ROW = 3
"""Bad chunks tolerated in a row; one more ends the stream as malformed."""
SKIPPED_ATTRIBUTE = "llmrouter.stream.skipped_chunks"
"""Attempt span attribute: how many chunks of the stream were skipped as unreadable."""

# What a decoder may raise on a chunk of unexpected shape; anything else is a bug of ours.
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)


class Garbled(Exception):
    """A stream chunk that cannot be read. Carries nothing of the chunk (it may be content)."""


class StreamDecoder(abc.ABC):
    """The state of one stream being decoded by one adapter."""

    @abc.abstractmethod
    def feed(self, payload: str) -> Iterable[StreamEvent]:
        """The events in one payload (a ``StreamEnd`` last, at the protocol's end marker).

        Raises :class:`Garbled` for a chunk that cannot be read, leaving the state as it was,
        and a ``ProviderError`` for a failure the upstream reports in the stream.
        """

    @abc.abstractmethod
    def finished(self) -> StreamEnd | None:
        """The end to finalise with if the stream stops here: set once the upstream sent its
        finish reason (with the usage read so far), else None."""

    def seen(self) -> TokenUsage | None:
        """The usage the upstream reported so far, before its end (None: none; the default,
        for protocols that report usage only at the end)."""
        return None


async def decode(
    provider: str,
    decoder: StreamDecoder,
    payloads: AsyncIterator[str],
    *,
    end_marker: str,
    finish_grace_s: float = 1.0,
    on_skip: Callable[[], None] = lambda: None,
    seen: UsageSeen | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """Our events from ``payloads`` by ``decoder``, ending with exactly one ``StreamEnd``, or a
    ``ProviderError`` (see the module's rules). ``on_skip`` is called for each skipped chunk;
    ``seen``, when given, is made to read the usage the decoder has seen (when it is asked:
    nothing per chunk). ``payloads`` is closed when this generator ends or is closed."""
    try:
        if seen is not None:
            seen.watch(decoder.seen)
        started = False
        in_a_row = skipped = 0
        while True:
            try:
                if decoder.finished() is None:
                    payload = await anext(payloads)
                else:
                    # Finished: what may still come (usage, the end marker) comes at once.
                    try:
                        async with asyncio.timeout(finish_grace_s):
                            payload = await anext(payloads)
                    except TimeoutError:
                        break
            except StopAsyncIteration:
                break
            except ProviderError:
                # The connection broke or timed out: a stream that already said it finished
                # lost nothing but its end marker.
                end = decoder.finished()
                if end is None:
                    raise
                yield end
                return
            try:
                events = tuple(decoder.feed(payload))
            except Garbled:
                if not started:
                    raise MalformedResponse(f"{provider} sent an invalid stream chunk") from None
                if in_a_row >= MAX_SKIPPED_IN_A_ROW:
                    raise MalformedResponse(
                        f"{provider} sent {in_a_row + 1} invalid stream chunks in a row"
                    ) from None
                in_a_row += 1
                skipped += 1
                on_skip()
                # The caller runs us with the attempt's span current.
                trace.get_current_span().set_attribute(SKIPPED_ATTRIBUTE, skipped)
                continue
            in_a_row = 0
            for event in events:
                yield event
                if isinstance(event, StreamEnd):
                    return
                started = started or isinstance(event, StreamDelta)
        end = decoder.finished()
        if end is None:
            raise MalformedResponse(f"{provider} closed its stream before {end_marker}")
        yield end
    finally:
        # The payloads are ours to close: the provider hands over its response with them.
        aclose = getattr(payloads, "aclose", None)
        if aclose is not None:
            await aclose()
