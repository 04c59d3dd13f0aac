"""Plain value objects for embedding requests and answers; providers and routing work on these.

An embedding request is not a chat request, but it shares what the router records and checks
for every request (caller, metadata, client id, front door, budgets, the redaction of the
caller's text from upstream errors): :meth:`EmbedRequest.as_chat` gives the one
``ChatRequest`` carrying exactly those, each input as a user message, which the schedule,
the attempt's usage record and the error redaction take as they take a chat request's.
"""

from __future__ import annotations

from dataclasses import field

from llmrouter.token_estimate import prompt_tokens
from llmrouter.values import frozen

from .chat import ChatRequest, Message, TokenUsage

__all__ = ["EMBEDDINGS_FRONT_DOOR", "EmbedCall", "EmbedRequest", "Embeddings", "estimate_tokens"]

# UsageRecord.front_door of requests that came through POST /v1/embeddings.
EMBEDDINGS_FRONT_DOOR = "embeddings"


def estimate_tokens(inputs: tuple[str, ...]) -> int:
    """The router's token estimate of ``inputs`` (four characters a token, rounded up per
    input, no message framing): what an upstream that reports no usage is billed, what the
    simulated model reports, and what quotas and budgets reserve."""
    return sum(prompt_tokens(len(text), 0) for text in inputs)


@frozen
class EmbedRequest:
    """An embedding request as the router sees it (OpenAI's "Create embeddings" fields plus
    the router's). ``dimensions``: the vector length asked for, None for the model's own."""

    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    user: str = ""
    category: str = ""
    task_type: str = ""
    source: str = ""
    api_key_id: str = ""
    team_id: str = ""
    # What the key may use (Caller.allowed_models; router_svc.routing.allowed); empty: all.
    allowed_models: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    client_request_id: str = ""
    fallback_models: tuple[str, ...] = ()
    front_door: str = EMBEDDINGS_FRONT_DOOR

    def as_chat(self) -> ChatRequest:
        """The ``ChatRequest`` that stands for this request where the engine's shared parts
        take one (see the module's docstring); ``max_tokens`` 1: an embedding has no output
        to reserve budget for beyond that."""
        return ChatRequest(
            model=self.model,
            messages=tuple(Message("user", text) for text in self.inputs),
            max_tokens=1,
            user=self.user,
            category=self.category,
            task_type=self.task_type,
            source=self.source,
            api_key_id=self.api_key_id,
            team_id=self.team_id,
            allowed_models=self.allowed_models,
            metadata=self.metadata,
            client_request_id=self.client_request_id,
            fallback_models=self.fallback_models,
            front_door=self.front_door,
        )


@frozen
class EmbedCall:
    """One upstream embeddings call: a batch of the request's inputs."""

    model: str
    """The upstream's own model id."""
    inputs: tuple[str, ...]
    """This call's inputs, in order."""
    read_timeout: float
    """Seconds the call may wait for its answer (at most the time left for the attempt)."""
    model_dimensions: int
    """The model's configured vector length (0: unknown): the simulated kind's length."""
    request: EmbedRequest
    """The whole request (its ``dimensions``, ``user``; its text is never echoed in errors)."""
    carrier: ChatRequest
    """``request.as_chat()``, for the redaction of upstream error messages."""


@frozen
class Embeddings:
    """One upstream call's answer: a vector per input, in input order, and the usage.

    ``usage.prompt_tokens`` is the upstream's count (OpenAI ``usage.prompt_tokens``, Ollama
    ``prompt_eval_count``), else the router's estimate (``usage.estimated``)."""

    vectors: tuple[tuple[float, ...], ...]
    usage: TokenUsage
    upstream_model: str = ""
