"""Upstream error messages lose the credentials the router sent (in any spelling) and key-shaped
strings, and keep the rest."""

from __future__ import annotations

import json
import random
import re
import string
import time
from urllib.parse import quote, quote_plus

import httpx
import pytest

from router_svc.chat import ChatRequest, Message
from router_svc.providers.http import classify_response
from router_svc.redact import REDACTED, WITHHELD, Credentials, scrub, upstream_message

# Not key-shaped: only knowing what was sent finds it. "/", "+", "=" and "&" make its URL and
# JSON spellings differ from the exact one.
KEY = "Router0Key/with+Symbols=&9f8e7d6c5b4a3210"
SENT = Credentials.from_headers(
    {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
)


@pytest.mark.parametrize(
    "spelling",
    [
        KEY,
        quote(KEY, safe=""),
        quote_plus(KEY, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote(KEY, safe="")),  # %2f, not %2F
        json.dumps(KEY)[1:-1],
        json.dumps(KEY)[1:-1].replace("/", "\\/"),  # servers that escape "/"
    ],
    ids=["exact", "url", "url-plus", "url-lower", "json", "json-slash"],
)
def test_a_sent_credential_is_cut_out_in_every_spelling(spelling: str) -> None:
    text = f"Invalid value for 'tools': got {spelling!s} in the header; see the docs"
    assert (
        scrub(text, SENT)
        == f"Invalid value for 'tools': got {REDACTED} in the header; see the docs"
    )


def test_a_spelling_we_cannot_cut_withholds_the_whole_message() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)  # every character \u-escaped
    assert scrub(f"bad header {escaped}", SENT) == WITHHELD


@pytest.mark.parametrize("name", ["x-api-key", "api-key", "authorization", "x-goog-api-key"])
def test_every_header_value_sent_is_a_credential(name: str) -> None:
    sent = Credentials.from_headers({name: "custom-credential-77", "anthropic-version": "2023"})
    assert scrub("bad custom-credential-77 given (2023)", sent) == f"bad {REDACTED} given (2023)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def456ghi789", f"Authorization: Bearer {REDACTED}"),
        ("got bearer eyJhbGciOiJIUzI1NiJ9", f"got bearer {REDACTED}"),
        (
            "Incorrect API key provided: sk-proj-AbC123xyz_987.",
            f"Incorrect API key provided: {REDACTED}.",
        ),
        ("key sk-ant-api03-Zx9_8y7-w6v5u4 invalid", f"key {REDACTED} invalid"),
        ("key sk-or-v1-0123456789abcdef", f"key {REDACTED}"),
        ("?key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv", f"?key={REDACTED}"),
        ("token xai-0123456789abcdefABCD", f"token {REDACTED}"),
        ("id AKIAIOSFODNN7EXAMPLE here", f"id {REDACTED} here"),
        ('{"x-api-key": "my-own-secret"}', f'{{"x-api-key": "{REDACTED}"}}'),
        ("api_key=hunter2hunter2&model=x", f"api_key={REDACTED}&model=x"),
        # Prose stays prose.
        ("Bearer token required", "Bearer token required"),
        ("max_tokens: Field required", "max_tokens: Field required"),
        ("disk-usage-warning for task-1234567890", "disk-usage-warning for task-1234567890"),
    ],
)
def test_key_shapes_are_cut_whoever_they_belong_to(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_redaction_comes_before_the_cut() -> None:
    # A key straddling the 200-character cut must not leave its first half behind.
    text = "x" * 190 + f" {KEY} tail"
    message = upstream_message(text, SENT)
    assert len(message) == 200
    assert KEY[:9] not in message


# The review's key: 28 characters, not key-shaped, sent as x-api-key.
KEY28 = "Zq9xLm2Pw8Rt5Yb7Nc3VaB1cDJk4"
SENT28 = Credentials.from_headers({"x-api-key": KEY28})


def shares_8(message: str, key: str) -> bool:
    """Whether ``message`` holds 8 characters in a row of ``key``, in any letter case."""
    lowered = message.lower()
    return any(key[i : i + 8].lower() in lowered for i in range(len(key) - 7))


@pytest.mark.parametrize(
    "quoted",
    [
        KEY28[:20] + "...",  # the review's report: truncated, 20 of 28 characters kept
        KEY28[:8] + "*" * 17 + KEY28[-3:],  # masked but for its first 8 and last 3
        KEY28.lower(),
        KEY28.upper(),
        KEY28[5:19],  # a piece from the middle
        quote(KEY28, safe="").lower()[:12],  # URL-encoded, lower-cased, cut short
    ],
    ids=["truncated", "masked", "lower", "upper", "middle", "lower-cut"],
)
def test_a_part_of_a_sent_credential_in_any_case_is_cut_out(quoted: str) -> None:
    message = upstream_message(f"Invalid x-api-key {quoted} for this project.", SENT28)
    assert not shares_8(message, KEY28), message
    assert message.startswith("Invalid x-api-key ")
    assert message.endswith(" for this project.")


def test_a_part_of_a_sent_credential_in_an_uncut_spelling_withholds_the_message() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY28.lower()[:12])  # \u-escaped, lower, cut
    assert scrub(f"bad header {escaped} given", SENT28) == WITHHELD


def test_seven_characters_shared_with_a_credential_are_not_a_quote() -> None:
    # Fewer than 8 in a row is chance, not a quote: the message stays whole.
    text = f"model {KEY28[:7]} not found"
    assert scrub(text, SENT28) == text


def prose(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(3000)]
    out = " ".join(rng.choice(words) for _ in range(chars // 5 + 1))
    return out[:chars]


NO_KEY = Credentials()
PROMPT = prose(1_000_000, seed=1)
ASKED = ChatRequest(model="m", messages=(Message(role="user", content=PROMPT),))


@pytest.mark.parametrize(
    ("echo", "kept"),
    [
        (PROMPT[-40:], False),  # the end of a 1 MB prompt
        (PROMPT[500_003:500_019], False),  # 16 characters from its middle, off any multiple of 8
        (PROMPT[500_003:500_018], True),  # 15 are not a quote
    ],
    ids=["tail-40", "middle-16", "middle-15"],
)
def test_quotes_of_a_long_prompt_are_cut_out(echo: str, kept: bool) -> None:
    message = upstream_message(f"Invalid input: '{echo}' is not allowed", NO_KEY, ASKED)
    assert (echo in message) is kept
    assert message.startswith("Invalid input: '")
    assert message.endswith("' is not allowed")


def test_a_huge_error_body_is_classified_in_bounded_time() -> None:
    # 1 MB of message against a 1 MB prompt: every 16-character window was searched for in the
    # whole prompt (minutes of event loop); now the message is cut to 8 KiB and looked up in
    # one pass. The caller still sees a classified 400 whose start quotes nothing of the prompt.
    message = "unknown parameter " + PROMPT[-300_000:] + " " + prose(700_000, seed=2)
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
    started = time.perf_counter()
    error = classify_response("p", httpx.Response(400), body.encode(), SENT28, ASKED)
    elapsed = time.perf_counter() - started
    assert str(error) == f"p answered HTTP 400: unknown parameter {REDACTED}"
    assert elapsed < 5.0  # ~0.1 s (0.4 s on a loaded 2-core machine); ~5.5 minutes before


def test_a_cut_long_message_leaves_no_start_of_a_key() -> None:
    # The 8 KiB cut falls 5 characters into the key: the split word goes, not just its tail.
    text = PROMPT[:8000] + " " * 186 + " " + KEY28
    message = upstream_message(text, SENT28, ASKED)
    assert KEY28[:5] not in message
    assert message.startswith(REDACTED)
