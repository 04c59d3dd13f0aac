"""One token estimate for the router and the gateway (llmrouter.token_estimate): what a
per-key limit reserves is the router's prompt estimate of the same request plus the budget."""

from __future__ import annotations

import pytest

from gateway.rate_limit import estimated_tokens
from llmrouter.v1 import chat_pb2
from router_svc.tokens import estimate_prompt_tokens
from router_svc.translate.chat import chat_from_proto


def _chat(**budget: int) -> chat_pb2.ChatRequest:
    """Every part of a prompt the rule counts: text, a text part and an image, a tool call
    and a tool's name, description and schema."""
    return chat_pb2.ChatRequest(
        model="auto",
        messages=[
            chat_pb2.Message(role=chat_pb2.ROLE_USER, content="a" * 40),
            chat_pb2.Message(
                role=chat_pb2.ROLE_USER,
                content_parts=[
                    chat_pb2.ContentPart(text="b" * 20),
                    chat_pb2.ContentPart(image_url="https://example.com/cat.png"),
                ],
            ),
            chat_pb2.Message(
                role=chat_pb2.ROLE_ASSISTANT,
                tool_calls=[chat_pb2.ToolCall(id="c1", name="lookup", arguments='{"q":"x"}')],
            ),
        ],
        tools=[chat_pb2.Tool(name="lookup", description="d" * 10, parameters_json="{}")],
        **budget,
    )


# 40 + 20 + 1000 (the image) + 6 + 9 (the call) + 6 + 10 + 2 (the tool) = 1093 characters:
# 274 tokens, plus 4 per message.
PROMPT = 274 + 3 * 4


@pytest.mark.parametrize(
    ("budget", "completion"),
    [({}, 256), ({"max_tokens": 100}, 100), ({"max_tokens": 100, "max_completion_tokens": 7}, 7)],
)
def test_the_reservation_is_the_routers_prompt_estimate_plus_the_budget(
    budget: dict[str, int], completion: int
) -> None:
    chat = _chat(**budget)
    assert estimate_prompt_tokens(chat_from_proto(chat)) == PROMPT
    assert estimated_tokens(chat) == PROMPT + completion
