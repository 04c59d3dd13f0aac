"""The one rule for estimating tokens without a tokenizer, shared by the router (context
windows, model quotas, usage an upstream did not report) and the gateway (per-key token
limits): about four characters per token for English text and code, plus a few tokens of
framing per message.
"""

from __future__ import annotations

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_COMPLETION_TOKENS",
    "IMAGE_CHARS",
    "PER_MESSAGE",
    "prompt_tokens",
    "tokens_of_chars",
]

# Characters per token of English text and code (OpenAI's rule of thumb).
CHARS_PER_TOKEN = 4
# Tokens of framing (role, separators) per message.
PER_MESSAGE = 4
# Characters an image counts as: a rough, fixed share of a prompt.
IMAGE_CHARS = 1000
# Completion tokens assumed when a request sets no max_tokens.
DEFAULT_COMPLETION_TOKENS = 256


def tokens_of_chars(chars: int) -> int:
    """The tokens of ``chars`` characters: one per four, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def prompt_tokens(chars: int, messages: int) -> int:
    """The tokens of a prompt of ``chars`` characters in ``messages`` messages."""
    return tokens_of_chars(chars) + PER_MESSAGE * messages
