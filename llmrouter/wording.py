"""Counts in messages a reader sees: "1 prompt", "3 prompts" (never "1 prompts")."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, noun: str, plural: str = "") -> str:
    """``count`` and ``noun``, the plural (``plural``, else ``noun`` + "s") unless it is 1."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
