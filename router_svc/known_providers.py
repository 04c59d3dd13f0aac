"""Real providers that join the router's built-in defaults when their key is in the
environment (see :func:`router_svc.config.with_env_providers`)."""

from __future__ import annotations

__all__ = ["ENV_PROVIDERS"]

# (provider name, kind, base URL, key variable, ((model, context window, quality), ...)).
ENV_PROVIDERS: tuple[tuple[str, str, str, str, tuple[tuple[str, int, float], ...]], ...] = (
    (
        "openai",
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        (("gpt-4o-mini", 128_000, 0.6), ("gpt-4o", 128_000, 0.85)),
    ),
    (
        "anthropic",
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        (("claude-3-5-haiku-latest", 200_000, 0.65), ("claude-sonnet-4-0", 200_000, 0.9)),
    ),
    (
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        (("openai/gpt-4o-mini", 128_000, 0.6),),
    ),
)
