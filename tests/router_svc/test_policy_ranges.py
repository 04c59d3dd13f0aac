"""Retry and breaker numbers outside their range stop the start with the key's name.

Before, ``router.retry.attempts_per_model = 0`` or ``-1`` and ``router.breaker.failure_rate = 2``
loaded without a word: no attempt at all, or a breaker that could never open on its rate.
"""

from __future__ import annotations

import pytest

from llmrouter.config import ConfigError
from router_svc.config import load_config


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("retry", "attempts_per_model", 0, "must be >= 1, got 0"),
        ("retry", "attempts_per_model", -1, "must be >= 1, got -1"),
        ("retry", "ttft_timeout_s", 0, "must be > 0"),
        ("retry", "backoff_base_s", -0.5, "must be >= 0"),
        ("retry", "budget_max_tokens", 0, "must be > 0"),
        ("retry", "budget_token_ratio", -1, "must be >= 0"),
        ("retry", "backoff_max_s", 0.01, "must be at least backoff_base_s"),
        ("breaker", "failure_rate", 2, "must be at most 1, got 2"),
        ("breaker", "failure_rate", 0, "must be > 0"),
        ("breaker", "consecutive_failures", 0, "must be >= 1"),
        ("breaker", "window_s", -1, "must be > 0"),
        ("breaker", "min_calls", 0, "must be at least 1"),
    ],
)
def test_out_of_range_policy_values_are_refused_by_name(
    section: str, key: str, value: float, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(document={"router": {section: {key: value}}}, environ={})
    assert str(caught.value).startswith(f"router.{section}.{key}: {message}")


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("retry", {"attempts_per_model": 1, "attempt_timeout_s": 0, "stream_idle_timeout_s": 0}),
        ("breaker", {"failure_rate": 1, "consecutive_failures": 1, "min_calls": 1}),
    ],
)
def test_boundary_values_still_load(section: str, values: dict[str, float]) -> None:
    config = load_config(document={"router": {section: values}}, environ={})
    policy = getattr(config, section)
    for key, value in values.items():
        assert getattr(policy, key) == value


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ttl_s": -1}, "router.cache.ttl_s: expected a positive number"),
        ({"max_entries": 0}, "router.cache.max_entries: expected at least 1"),
        ({"api_keys": [""]}, "router.cache.api_keys[0]: must not be empty"),
    ],
)
def test_nested_section_errors_name_the_key_once(values: dict[str, object], message: str) -> None:
    """The response cache's errors read ``router.cache.ttl_s``, not ``router.cache.cache.ttl_s``."""
    with pytest.raises(ConfigError) as caught:
        load_config(document={"router": {"cache": values}}, environ={})
    assert str(caught.value).startswith(message)
