"""The caller's copy of an error message: known provider ids and base URLs (and their hosts)
masked, IP address literals masked, everything else as it was."""

from __future__ import annotations

import logging

import pytest

from router_svc.public_errors import PublicErrors

PROVIDERS = [
    ("oai", "http://10.1.2.3:8000/v1"),
    ("anth", "https://api.anthropic.example.com/"),
    ("oai-eu", "https://eu.example.net/openai"),
    ("sim", ""),
]


@pytest.mark.parametrize(
    ("message", "public"),
    [
        (
            "oai answered HTTP 400: see http://10.1.2.3:8000/v1/chat/completions?x=1 now",
            "the upstream answered HTTP 400: see [upstream URL] now",
        ),
        # A longer id first; ids inside model names, paths and words stay.
        (
            "oai-eu timed out; oai-gpt, openrouter/oai, boaister",
            "the upstream timed out; oai-gpt, openrouter/oai, boaister",
        ),
        (
            "anth's host api.anthropic.example.com; eu.api.anthropic.example.com is another",
            "the upstream's host [upstream host]; eu.api.anthropic.example.com is another",
        ),
        (
            "connect to https://api.anthropic.example.com:443/v1/messages failed",
            "connect to [upstream URL] failed",
        ),
        (
            "host 'x.example' resolved to 192.168.0.7 (private), [fd00::1]:8080 and fd00::2",
            "host 'x.example' resolved to [address] (private), [address] and [address]",
        ),
        # Not addresses: a version, a time, an out-of-range quad; nor other URLs.
        (
            "llama-3.1.8.0 at 12:30:45, 999.1.1.1, https://platform.openai.com/docs/errors",
            "llama-3.1.8.0 at 12:30:45, 999.1.1.1, https://platform.openai.com/docs/errors",
        ),
        (
            "all 2 attempts failed (a: UPSTREAM_UNAVAILABLE)",
            "all 2 attempts failed (a: UPSTREAM_UNAVAILABLE)",
        ),
    ],
)
def test_what_callers_read(message: str, public: str) -> None:
    assert PublicErrors(lambda: PROVIDERS).text(message) == public


def test_exposed_messages_are_unchanged() -> None:
    message = "oai answered HTTP 400: see http://10.1.2.3:8000/v1/x"
    assert PublicErrors(lambda: PROVIDERS, expose=True).text(message) == message


def test_a_changed_base_url_is_masked_from_then_on() -> None:
    providers = [("oai", "https://old.example.com/v1")]
    public = PublicErrors(lambda: providers)
    assert public.text("new.example.com said no") == "new.example.com said no"
    providers[0] = ("oai", "https://new.example.com/v1")  # SetProviderBaseUrl
    assert public.text("new.example.com said no") == "[upstream host] said no"


def test_the_whole_message_is_logged_when_something_was_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    public = PublicErrors(lambda: PROVIDERS)
    with caplog.at_level(logging.WARNING, logger="router_svc.public_errors"):
        assert public.logged("oai is down", "request %s failed", "r1") == "the upstream is down"
        assert public.logged("nothing to hide", "request %s failed", "r2") == "nothing to hide"
    assert [r.getMessage() for r in caplog.records] == ["request r1 failed: oai is down"]
