"""How the fake upstream answers one chat request: the script a test sets per model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Behavior"]


@dataclass(frozen=True)
class Behavior:
    """How the upstream answers one chat request. The defaults answer promptly and correctly."""

    status: int = 200
    """Non-200: an error body in the path's format (OpenAI, Anthropic or Ollama shape)."""
    retry_after: str | None = None
    """Retry-After header value, e.g. "1" or an HTTP date."""
    delay_s: float = 0.0
    """Wait before sending response headers."""
    stall: bool = False
    """Read the request, then never answer (until the client goes away or the server stops)."""
    malformed: bool = False
    """200 whose body is not JSON; when streaming, the first content frame is not JSON."""
    chunks: int = 4
    """Number of content pieces (text pieces or tool-argument pieces); also completion tokens."""
    chunk_delay_s: float = 0.0
    """Streaming: wait between content pieces."""
    cut_after: int | None = None
    """Streaming: close the socket after this many content pieces, with no final chunk, no
    [DONE] and no terminating zero-length chunk. Non-streaming: send half the body, then close."""
    first_chunk_delay_s: float = 0.0
    """Streaming: headers at once, then wait this long before any body bytes."""
    raw_body: bytes | None = None
    """The whole body, sent as given with ``status`` whether or not the client streams: an
    error in a server's own dialect (vLLM, llama.cpp, Gemini's list-wrapped errors, OpenRouter's
    ``error.metadata``...), or a 200 answer of a shape the codec does not expect."""
    error_message: str = ""
    """Error message for non-200 statuses; empty uses a standard one."""
    error_code: str = ""
    """OpenAI ``error.code``, e.g. "context_length_exceeded"; empty uses the status default.
    For ``stream_error``: OpenAI's ``code``, Anthropic's error ``type``."""
    stream_error: str | None = None
    """Streaming: after ``stream_error_after`` content pieces, an error event (in the path's
    format) carrying this message ends the stream: no finish, no usage, no [DONE]."""
    stream_error_after: int = 0
    """Streaming: content pieces sent before ``stream_error``."""
    text: str | None = None
    """The reply's text instead of "Hello from <model>." (e.g. a huge one)."""
    stall_after: int | None = None
    """Streaming: after this many content pieces send nothing more, keeping the connection
    open (until the client goes away or the server stops)."""
    garbage_at: int | None = None
    """Streaming: ``garbage_count`` unreadable frames go out before content piece number
    ``garbage_at`` (0-based); the stream then goes on."""
    garbage_count: int = 1
    """Streaming: how many unreadable frames in a row ``garbage_at`` sends."""
    drop_end_marker: bool = False
    """Streaming: the finish and usage are sent, then the connection closes without the
    protocol's end marker (OpenAI ``data: [DONE]``, Anthropic ``message_stop``) and without the
    body's terminating chunk."""
    hang_before_end: bool = False
    """Streaming: the finish and usage are sent, then nothing more (no end marker), the
    connection staying open."""
    reject_prefill: bool = False
    """A request that continues an assistant prefill gets 400, as from an OpenAI-compatible
    server that does not know vLLM's ``continue_final_message``."""
    prompt_tokens: int | None = None
    """The prompt tokens reported (Anthropic: uncached ``input_tokens``); None estimates them
    from the request's text."""
    tool_arguments: dict[str, Any] | None = None
    """The tool call's input; None is ``{"city": "Paris"}``, ``{}`` a tool without parameters."""
    more_tool_calls: tuple[dict[str, Any], ...] = ()
    """OpenAI: further calls to the same tool in the answer, one per input here, after the
    first (parallel tool calls: API reference, "Create chat completion",
    ``parallel_tool_calls``); each has its own id, and streamed, its own ``index``."""
    tool_call_index: Literal["given", "absent", "zero"] = "given"
    """OpenAI streaming, how the calls are told apart. "given": as the API reference ("The chat
    completion chunk object", ``delta.tool_calls[].index``): each call opens with its index,
    id, type and name, then its arguments in pieces at that index. "absent": Gemini's
    OpenAI-compatible endpoint, which leaves ``index`` out (open-webui/computer#224): each call
    comes whole, id, name and arguments, in a chunk of its own. "zero": every call at index 0,
    each opening with its own id (the same endpoint's parallel calls,
    NousResearch/hermes-agent#62937), arguments in pieces."""
    tool_calls_together: bool = False
    """OpenAI streaming with ``tool_call_index="absent"``: all calls whole in the first chunk's
    ``tool_calls`` list rather than one chunk each."""
    tool_arguments_object: bool = False
    """OpenAI: ``function.arguments`` as a JSON object rather than a string of JSON, whole and
    in the call's first streamed entry, as Ollama's native API sends it and some
    OpenAI-compatible servers do too."""
    cache_read_tokens: int = 0
    """Anthropic: ``cache_read_input_tokens`` reported beside ``input_tokens``; OpenAI:
    ``prompt_tokens_details.cached_tokens``, included in ``prompt_tokens``."""
    cache_write_tokens: int = 0
    """Anthropic: ``cache_creation_input_tokens`` reported beside ``input_tokens``."""
    cache_write_1h_tokens: int = 0
    """Anthropic: the part of ``cache_write_tokens`` written to the 1-hour cache (Messages API
    reference, ``usage.cache_creation.ephemeral_1h_input_tokens``; the rest is
    ``ephemeral_5m_input_tokens``)."""
    start_usage: Literal["full", "zero", "absent"] = "full"
    """Anthropic streaming: what ``message_start`` says of usage: the input counts ("full"),
    ``input_tokens: 0`` ("zero") or no ``usage`` key ("absent"); with the last two the input
    counts come in ``message_delta``'s usage."""
    tool_input_whole: bool = False
    """Anthropic streaming: the tool input comes whole in ``content_block_start`` and no
    ``input_json_delta`` follows."""
    stop_reason: str | None = None
    """Anthropic: the ``stop_reason`` sent (message, and streamed in ``message_delta``) instead
    of the one the answer implies (API reference, "Handling stop reasons": e.g. ``pause_turn``,
    ``model_context_window_exceeded``, or one a newer API version added)."""
    reasoning_tokens: int = 0
    """OpenAI: ``completion_tokens_details.reasoning_tokens``, reported on top of the
    answer's pieces in ``completion_tokens`` (which includes them)."""
    usage_details: Literal["full", "absent", "null"] = "full"
    """OpenAI: ``prompt_tokens_details`` / ``completion_tokens_details`` sent ("full", as the
    API does), left out ("absent") or ``null``."""
    refusal: bool = False
    """OpenAI: the model refuses; the text comes as ``message.refusal`` with ``content`` null
    (API reference, "The chat completion object": ``choices[].message.refusal``; streamed as
    ``delta.refusal`` pieces, "The chat completion chunk object")."""
    continuous_usage: bool = False
    """OpenAI streaming: every content chunk carries the running ``usage`` (the prompt, the
    completion tokens so far), as vLLM sends it with ``stream_options.continuous_usage_stats``
    (vLLM's OpenAI-compatible server, ``StreamOptions``; SGLang likewise)."""
    choices_reversed: bool = False
    """OpenAI non-streaming: ``choices`` lists an extra choice (``index`` 1) before the answer
    (``index`` 0); the API reference gives each choice its ``index`` ("The chat completion
    object": ``choices[].index``), not its position."""
    service_tier: str | None = None
    """OpenAI: the top-level ``service_tier`` of the completion and of every chunk (API
    reference, "The chat completion object" / "The chat completion chunk object": the tier
    that served the request, e.g. "default"); None leaves the key out, as compatible servers
    do."""
    system_fingerprint: str | None = None
    """OpenAI: the top-level ``system_fingerprint`` (same sections: the backend configuration,
    e.g. "fp_44709d6fcb"); None sends ``null``."""
    reasoning: str | None = None
    """The model's reasoning text, before its answer and apart from it, in each kind's shape:
    OpenAI-compatible ``message.reasoning_content`` / ``delta.reasoning_content`` (DeepSeek,
    "Reasoning Model (deepseek-reasoner)"; vLLM, "Reasoning Outputs"), or the keys in
    ``reasoning_keys``; Anthropic a ``thinking`` block with its ``signature``, streamed as
    ``thinking_delta`` pieces and a ``signature_delta`` ("Building with extended thinking");
    Ollama ``message.thinking`` (API reference, "Generate a chat completion"). Streamed in
    two pieces before the content. None: a model that gives none."""
    reasoning_keys: tuple[str, ...] = ("reasoning_content",)
    """OpenAI-compatible: the keys the reasoning comes under, each with the same text:
    ``("reasoning",)`` as OpenRouter ("Reasoning Tokens") and vLLM >= 0.11 send it, both names
    as vLLM did while renaming it."""
    redacted_thinking: bool = False
    """Anthropic: a ``redacted_thinking`` block (encrypted ``data``, no text) follows the
    thinking block, as the safety systems make it ("Building with extended thinking",
    "Thinking redaction")."""
    usage_patch: Mapping[str, Any] | None = None
    """What a server outside the reference sends in place of some usage counts: each key of
    the answer's final usage replaced by its value (a dotted key for a nested one, ``...``
    removes it), e.g. ``{"prompt_tokens": 2**63}`` or ``{"prompt_tokens_details.cached_tokens":
    "lots"}``. The usage object patched is OpenAI's ``usage`` (the answer's, the last chunk's),
    Anthropic's message ``usage`` (streamed: message_delta's), Ollama's ``done`` object (its
    ``prompt_eval_count`` and ``eval_count``: Ollama leaves ``prompt_eval_count`` out when the
    prompt came from its cache, ollama/ollama#2068, #3427)."""
    start_usage_patch: Mapping[str, Any] | None = None
    """Anthropic streaming: message_start's ``usage`` patched likewise."""
    omit_usage: bool = False
    """OpenAI-compatible: no usage at all, as servers that leave ``usage`` out of the answer
    and ignore ``stream_options.include_usage`` (no usage chunk, no ``usage: null`` keys)."""
    reject_max_tokens: bool = False
    """A request with ``max_tokens`` gets OpenAI's 400 for reasoning models (API reference,
    chat completions, ``max_tokens``: "not compatible with o-series models"; the error is
    ``unsupported_parameter``: "Use 'max_completion_tokens' instead")."""
