"""Request categories: tools, keyword rules, short chats, or a small classifier model."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence

from llmrouter.values import frozen

from ..chat import ChatRequest, Message
from ..config import CategoryConfig

__all__ = ["BUILTIN_KEYWORDS", "Classification", "Classifier"]

BUILTIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "code": (
        "code",
        "function",
        "class",
        "method",
        "bug",
        "debug",
        "error",
        "exception",
        "traceback",
        "stack trace",
        "compile",
        "refactor",
        "python",
        "javascript",
        "typescript",
        "java",
        "rust",
        "golang",
        "sql",
        "regex",
        "script",
        "unit test",
        "implement",
        "api",
        "json",
        "yaml",
    ),
    "reasoning": (
        "why",
        "prove",
        "proof",
        "reason",
        "reasoning",
        "step by step",
        "analyze",
        "analyse",
        "derive",
        "calculate",
        "solve",
        "math",
        "logic",
        "compare",
        "evaluate",
        "plan",
        "tradeoff",
        "trade-off",
    ),
}
# Only the start of a long message is scanned: enough to find its topic, cheap to match.
_SCAN_CHARS = 4000
_CODE_FENCE = "```"


@frozen
class Classification:
    """A category and how it was found (tools, keywords, classifier, short_chat, default)."""

    category: str
    source: str


AskModel = Callable[[str, Sequence[str]], Awaitable[str]]


class Classifier:
    """Keyword, classifier-model or hybrid classification. Patterns compile once per edit."""

    def __init__(
        self,
        categories: Sequence[CategoryConfig],
        *,
        mode: str = "keywords",
        ask_model: AskModel | None = None,
        timeout_s: float = 1.0,
        short_chat_chars: int = 400,
    ) -> None:
        self.mode = mode
        self._ask = ask_model
        self._timeout = timeout_s
        self._short = short_chat_chars
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        self._names: tuple[str, ...] = ()
        self.rebuild(categories)

    def rebuild(self, categories: Sequence[CategoryConfig]) -> None:
        """Recompile keyword patterns after categories change (runtime edits)."""
        patterns = []
        for category in categories:
            words = category.keywords or BUILTIN_KEYWORDS.get(category.name, ())
            if words:
                alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                patterns.append((category.name, re.compile(rf"\b(?:{alternatives})\b", re.I)))
        self._patterns = patterns
        self._names = tuple(c.name for c in categories)

    async def classify(self, request: ChatRequest) -> Classification:
        """The request's category according to the configured mode."""
        if request.tools and "tools" in self._names:
            return Classification("tools", "tools")
        if self.mode in ("classifier", "hybrid") and self._ask is not None:
            if self.mode == "hybrid":
                found = self._keywords(request)
                if found is not None:
                    return found
            answer = await self._ask_model(request)
            if answer is not None:
                return answer
        return self._keywords(request) or self._fallback(request)

    def _keywords(self, request: ChatRequest) -> Classification | None:
        text = _last_user_text(request.messages)[:_SCAN_CHARS]
        if _CODE_FENCE in text and "code" in self._names:
            return Classification("code", "keywords")
        best, best_hits = "", 0
        for name, pattern in self._patterns:
            hits = len(pattern.findall(text))
            if hits > best_hits:
                best, best_hits = name, hits
        return Classification(best, "keywords") if best_hits else None

    def _fallback(self, request: ChatRequest) -> Classification:
        if "conversation" in self._names and _at_most(request.messages, self._short):
            return Classification("conversation", "short_chat")
        return Classification("default", "default")

    async def _ask_model(self, request: ChatRequest) -> Classification | None:
        assert self._ask is not None
        text = _last_user_text(request.messages)[:_SCAN_CHARS]
        choices = [n for n in self._names if n != "tools"]
        try:
            async with asyncio.timeout(self._timeout):
                answer = (await self._ask(text, choices)).strip().lower()
        except Exception:
            return None
        for name in sorted(choices, key=len, reverse=True):
            if name.lower() in answer:
                return Classification(name, "classifier")
        return None


def _at_most(messages: Sequence[Message], chars: int) -> bool:
    """Whether the messages' text adds up to at most ``chars`` characters (counting stops
    there: a long chat costs no more than a short one)."""
    for message in messages:
        chars -= len(message.text())
        if chars < 0:
            return False
    return True


def _last_user_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.text()
    return ""
