"""OpenAI chat completions: JSON replies, ``chat.completion.chunk`` SSE streams, error bodies."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from tests.fakes._answer import Answer, JSONObject, Stream, WireFormat, dumps, patched, split

__all__ = ["OpenAIChat", "model_list"]

_FINISH = {"stop": "stop", "tool": "tool_calls", "length": "length"}
# (error.type, default error.code) per status, as api.openai.com sends them.
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


_BOTH = "Cannot set both `continue_final_message` and `add_generation_prompt` to True."


class OpenAIChat(WireFormat):
    """``POST /v1/chat/completions``."""

    stream_media_type = "text/event-stream; charset=utf-8"
    malformed_body: ClassVar[bytes] = b'{"id": "chatcmpl-broken", "choices": ['

    def check(self, headers: Mapping[str, str], body: object) -> tuple[int, str] | None:
        """vLLM's rule for its ``continue_final_message`` extension (OpenAI-compatible server,
        "Extra parameters" of the Chat API: "Cannot be used at the same time as
        add_generation_prompt", whose default is true)."""
        problem = super().check(headers, body)
        if (
            problem is None
            and isinstance(body, dict)
            and body.get("continue_final_message")
            and body.get("add_generation_prompt", True)
        ):
            return (
                400,
                "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
            )
        return problem

    def prefill(self, body: JSONObject) -> str | None:
        """vLLM / SGLang dialect: with ``continue_final_message`` the final assistant message
        is continued (SGLang sampling parameters: "the final assistant message is removed and
        its content is used as a prefill"). Plain OpenAI starts a new answer."""
        if not body.get("continue_final_message"):
            return None
        return super().prefill(body)

    def max_tokens(self, body: JSONObject) -> int | None:
        """``max_completion_tokens``, or the older ``max_tokens``."""
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        return limit if isinstance(limit, int) else None

    def reply(self, answer: Answer) -> JSONObject:
        """A ``chat.completion`` object."""
        message: JSONObject = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.reported.refusal:
            message["content"], message["refusal"] = None, answer.text
        message.update(_reasoning(answer, answer.reported.reasoning))
        if answer.tool_name is not None:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": _call_id(answer, k),
                    "type": "function",
                    "function": {"name": answer.tool_name, "arguments": _arguments(answer, k)},
                }
                for k in range(_call_count(answer))
            ]
        return {
            "id": _completion_id(answer),
            "object": "chat.completion",
            "created": answer.created,
            "model": answer.model,
            "choices": [
                *_other_choice(answer),
                {
                    "index": 0,
                    "message": message,
                    "logprobs": _logprobs(answer, answer.pieces),
                    "finish_reason": _FINISH[answer.stop],
                },
            ],
            **({} if answer.reported.omit_usage else {"usage": _usage(answer)}),
            "system_fingerprint": answer.reported.system_fingerprint,
            **_tier(answer),
        }

    def stream(self, answer: Answer, body: JSONObject) -> Stream:
        """Role delta, content or tool-call deltas, finish chunk, usage chunk, ``[DONE]``."""
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        include_usage = include_usage and not answer.reported.omit_usage

        def frame(choices: list[JSONObject], usage: JSONObject | None = None) -> bytes:
            chunk: JSONObject = {
                "id": _completion_id(answer),
                "object": "chat.completion.chunk",
                "created": answer.created,
                "model": answer.model,
                "system_fingerprint": answer.reported.system_fingerprint,
                **_tier(answer),
                "choices": choices,
            }
            if include_usage or usage is not None:
                # The real API adds "usage": null to every chunk once usage is requested.
                chunk["usage"] = usage
            return b"data: " + dumps(chunk) + b"\n\n"

        def delta(
            content: JSONObject, finish: str | None = None, logprobs: JSONObject | None = None
        ) -> list[JSONObject]:
            return [{"index": 0, "delta": content, "logprobs": logprobs, "finish_reason": finish}]

        if answer.tool_name is None:
            first: JSONObject = {"role": "assistant", "content": "", "refusal": None}
            key = "refusal" if answer.reported.refusal else "content"
            pieces = [({key: piece}, piece) for piece in answer.pieces]
        else:
            calls = _streamed_calls(answer)
            first = {"role": "assistant", "content": None, "tool_calls": calls[0][0]}
            pieces = [({"tool_calls": entries}, text) for entries, text in calls[1:]]
        tail = [frame(delta({}, _FINISH[answer.stop]))]
        if include_usage:
            tail.append(frame([], _usage(answer)))
        tail.append(b"data: [DONE]\n\n")
        # A reasoning model's reasoning comes first, content null meanwhile (DeepSeek's
        # streaming example reads delta.reasoning_content until delta.content arrives).
        thinking = (
            frame(delta({"content": None, **_reasoning(answer, piece)}))
            for piece in answer.reported.reasoning_pieces
        )
        return Stream(
            media_type=self.stream_media_type,
            head=(frame(delta(first)), *thinking),
            pieces=tuple(
                frame(
                    delta(piece, logprobs=_logprobs(answer, (text,))),
                    _running_usage(answer, i + 1) if answer.reported.continuous_usage else None,
                )
                for i, (piece, text) in enumerate(pieces)
            ),
            tail=tuple(tail),
            end_marker=1,
        )

    def malformed_frame(self) -> bytes:
        """An SSE event whose data is cut mid-object."""
        return b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[\n\n'

    def error(self, status: int, message: str, code: str) -> JSONObject:
        """``{"error": {"message", "type", "param", "code"}}``."""
        kind, default_code = _ERRORS.get(status, ("server_error", None))
        return {
            "error": {
                "message": message,
                "type": kind,
                "param": None,
                "code": code or default_code,
            }
        }

    def stream_error(self, message: str, code: str) -> bytes:
        """``data: {"error": {...}}``: the shape the official SDK raises as ``APIError`` when a
        stream event carries an ``error`` (openai-python ``_streaming.py``; OpenRouter's
        "Errors during streaming" documents the same event)."""
        error = {"message": message, "type": "server_error", "param": None, "code": code or None}
        return b"data: " + dumps({"error": error}) + b"\n\n"


def model_list(models: Iterable[str]) -> JSONObject:
    """``GET /v1/models``."""
    data: list[Any] = [
        {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake-upstream"}
        for name in models
    ]
    return {"object": "list", "data": data}


def _completion_id(answer: Answer) -> str:
    return f"chatcmpl-fake{answer.seq:06d}"


def _logprobs(answer: Answer, tokens: Iterable[str]) -> JSONObject | None:
    """``choices[].logprobs`` when asked for (API reference, "The chat completion object":
    ``logprobs.content`` for content, ``logprobs.refusal`` for a refusal, each a list of
    ``{token, logprob, bytes, top_logprobs}``); None when not asked for. One token per piece,
    each with ``answer.reported.logprobs`` alternatives."""
    count = answer.reported.logprobs
    if count is None:
        return None

    def token(text: str, rank: int) -> JSONObject:
        return {"token": text, "logprob": -0.25 * rank, "bytes": list(text.encode())}

    items = [
        {**token(text, 0), "top_logprobs": [token(text, rank) for rank in range(count)]}
        for text in tokens
    ]
    if answer.reported.refusal:
        return {"content": None, "refusal": items}
    return {"content": items, "refusal": None}


def _call_id(answer: Answer, call: int = 0) -> str:
    base = f"call_fake{answer.seq:06d}"
    return f"{base}_{call}" if call else base


def _call_count(answer: Answer) -> int:
    return 1 + len(answer.reported.more_tool_calls)


def _arguments(answer: Answer, call: int) -> Any:
    """Call number ``call``'s ``function.arguments``: JSON text, or the object itself when the
    behaviour says so."""
    given = answer.arguments if call == 0 else answer.reported.more_tool_calls[call - 1]
    return dict(given) if answer.reported.tool_arguments_object else json.dumps(given)


def _streamed_calls(answer: Answer) -> list[tuple[list[JSONObject], str]]:
    """The tool calls as ``(delta.tool_calls, arguments text)`` per chunk, the first chunk's
    first (see ``Behavior.tool_call_index``). The first call's argument pieces are the
    answer's pieces; each further call is cut in as many."""
    dialect, count = answer.reported.tool_call_index, _call_count(answer)

    def opening(call: int, arguments: Any) -> JSONObject:
        at = 0 if dialect == "zero" else call
        entry: JSONObject = {} if dialect == "absent" else {"index": at}
        function = {"name": answer.tool_name, "arguments": arguments}
        return {**entry, "id": _call_id(answer, call), "type": "function", "function": function}

    def text(arguments: Any) -> str:
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    if dialect == "absent":
        whole = [(opening(k, a), text(a)) for k in range(count) for a in [_arguments(answer, k)]]
        if answer.reported.tool_calls_together:
            return [([entry for entry, _ in whole], "".join(t for _, t in whole))]
        return [([entry], t) for entry, t in whole]
    chunks: list[tuple[list[JSONObject], str]] = []
    for k in range(count):
        arguments = _arguments(answer, k)
        if not isinstance(arguments, str):
            # An object cannot come in pieces: whole in the call's opening entry.
            chunks.append(([opening(k, arguments)], json.dumps(arguments)))
            continue
        chunks.append(([opening(k, "")], ""))
        texts = answer.pieces if k == 0 else split(arguments, len(answer.pieces))
        at = 0 if dialect == "zero" else k
        chunks.extend(([{"index": at, "function": {"arguments": t}}], t) for t in texts)
    return chunks


def _other_choice(answer: Answer) -> list[JSONObject]:
    """``choices_reversed``: a second answer (``index`` 1) listed first."""
    if not answer.reported.choices_reversed:
        return []
    other = {"role": "assistant", "content": "Another answer.", "refusal": None}
    return [{"index": 1, "message": other, "logprobs": None, "finish_reason": "stop"}]


def _running_usage(answer: Answer, pieces: int) -> JSONObject:
    """vLLM's per-chunk usage (``continuous_usage_stats``): the prompt and the completion tokens
    generated so far, one per piece here."""
    cached = answer.reported.cache_read_tokens
    prompt = answer.prompt_tokens + cached
    return {
        "prompt_tokens": prompt,
        "completion_tokens": pieces,
        "total_tokens": prompt + pieces,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _usage(answer: Answer) -> JSONObject:
    """API reference, "The chat completion object", ``usage``: ``prompt_tokens`` includes the
    ``prompt_tokens_details.cached_tokens`` and ``completion_tokens`` the
    ``completion_tokens_details.reasoning_tokens``; both detail objects always come (the
    chunk object's ``usage`` is the same object). OpenAI reports no cache writes."""
    reported = answer.reported
    prompt = answer.prompt_tokens + reported.cache_read_tokens
    completion = answer.completion_tokens + reported.reasoning_tokens
    usage: JSONObject = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reported.usage_details == "full":
        usage["prompt_tokens_details"] = {
            "cached_tokens": reported.cache_read_tokens,
            "audio_tokens": 0,
        }
        usage["completion_tokens_details"] = {
            "reasoning_tokens": reported.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    elif reported.usage_details == "null":
        usage["prompt_tokens_details"] = usage["completion_tokens_details"] = None
    return patched(usage, reported.usage_patch)


def _tier(answer: Answer) -> JSONObject:
    """The top-level ``service_tier`` key, when the behaviour sets one."""
    tier = answer.reported.service_tier
    return {} if tier is None else {"service_tier": tier}


def _reasoning(answer: Answer, text: str | None) -> JSONObject:
    """``text`` under each of the answer's reasoning keys (none without reasoning)."""
    if not text:
        return {}
    return dict.fromkeys(answer.reported.reasoning_keys, text)
