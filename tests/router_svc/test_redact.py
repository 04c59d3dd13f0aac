"""Upstream error messages lose the credentials the router sent (in any spelling) and key-shaped
strings, and keep the rest."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

import pytest

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
