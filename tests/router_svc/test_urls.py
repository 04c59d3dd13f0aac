"""Provider base URLs: http(s) to public hosts only, unless the host is allow-listed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from router_svc.urls import Resolve, UrlRefused, check_url, check_url_static, parse_allow_list

REFUSED = [
    ("ftp://api.example.com/v1", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://api.example.com", "only http and https"),
    ("api.example.com/v1", "only http and https"),
    ("http://user:secret@api.example.com/v1", "credentials"),
    ("http:///v1", "no host"),
    ("http://api.example.com:99999/", "not a valid URL"),
    ("http://api.example.com /v1", "spaces"),
    ("http://127.0.0.1:8080/v1", "loopback"),
    ("http://127.1/v1", "loopback"),
    ("http://2130706433/v1", "loopback"),
    ("http://0x7f000001/v1", "loopback"),
    ("http://[::1]:11434/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://localhost:11434/v1", "internal-only"),
    ("http://ollama.localhost/", "internal-only"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/", "internal-only"),
    ("http://100.100.100.200/", "reserved or shared"),
    ("http://[fd00:ec2::254]/", "private"),
    # DNS64 / NAT64 (64:ff9b::/96): judged by the IPv4 address it embeds.
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # 169.254.169.254
    ("http://[64:ff9b::7f00:1]/", "loopback"),
    ("http://[64:ff9b::10.1.2.3]/", "private"),
    # Site-local (fec0::/10): deprecated, not public.
    ("http://[fec0::1]/", "site-local"),
    ("http://[fed0:1:2::3]/", "site-local"),
    ("http://10.1.2.3/v1", "private"),
    ("http://172.16.0.1/v1", "private"),
    ("http://192.168.1.10:8000/v1", "private"),
    ("http://0.0.0.0:8000/v1", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://ollama:11434/v1", "single-label"),
    ("http://printer.local/", "internal-only"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_refused_on_sight(url: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        check_url_static(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "https://api.anthropic.com",
        "http://8.8.8.8:8080/v1",
        "http://[64:ff9b::808:808]/v1",  # 8.8.8.8 through NAT64: was refused as reserved
    ],
)
def test_public_urls_pass(url: str) -> None:
    check_url_static(url)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://localhost:11434", ["localhost"]),
        ("http://127.0.0.1:11434/v1", ["127.0.0.1"]),
        ("http://10.1.2.3/v1", ["10.0.0.0/8"]),
        ("http://[::1]:8000/", ["::1"]),
        ("http://ollama:11434/v1", ["ollama"]),
    ],
)
def test_allow_listed_hosts_pass(url: str, allowed: list[str]) -> None:
    check_url_static(url, allowed)


def test_allow_list_entries_are_checked() -> None:
    with pytest.raises(UrlRefused, match=r"\[1\]: not a network"):
        parse_allow_list(["localhost", "10.0.0.0/33"])


def resolver(answers: dict[str, Sequence[str]]) -> Resolve:
    async def resolve(host: str) -> Sequence[str]:
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    return resolve


async def test_names_are_refused_by_what_they_resolve_to() -> None:
    resolve = resolver(
        {
            "api.example.com": ["93.184.216.34"],
            "rebind.example.com": ["93.184.216.34", "169.254.169.254"],
            "intranet.example.com": ["10.0.0.7"],
        }
    )
    await check_url("https://api.example.com/v1", resolve=resolve)
    with pytest.raises(UrlRefused, match="resolving to link-local"):
        await check_url("https://rebind.example.com/v1", resolve=resolve)
    with pytest.raises(UrlRefused, match="resolving to private"):
        await check_url("https://intranet.example.com/v1", resolve=resolve)
    with pytest.raises(UrlRefused, match="does not resolve"):
        await check_url("https://nowhere.example.com/v1", resolve=resolve)
    await check_url("https://intranet.example.com/v1", ["intranet.example.com"], resolve=resolve)
    await check_url("https://intranet.example.com/v1", ["10.0.0.0/24"], resolve=resolve)


@pytest.mark.parametrize(
    ("url", "allowed", "admitted"),
    [
        ("http://localhost:11434", "localhost:11434", True),
        ("http://localhost:8080", "localhost:11434", False),
        ("http://localhost", "localhost:11434", False),
        ("http://10.0.0.5:8000/v1", "10.0.0.5:8000", True),
        ("http://10.0.0.5:8001/v1", "10.0.0.5:8000", False),
        ("http://[::1]:8080/", "[::1]:8080", True),
        ("http://[::1]:8081/", "[::1]:8080", False),
        ("http://10.1.2.3:8000/", "10.0.0.0/8:8000", True),
        ("http://10.1.2.3:9000/", "10.0.0.0/8:8000", False),
        ("https://intranet.example.com/v1", "intranet.example.com:443", True),  # https default
    ],
)
def test_an_allow_list_entry_with_a_port_admits_that_port_only(
    url: str, allowed: str, admitted: bool
) -> None:
    if admitted:
        check_url_static(url, [allowed])
    else:
        with pytest.raises(UrlRefused, match="allowed_private_hosts"):
            check_url_static(url, [allowed])


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("localhost:0", "not a port"),
        ("localhost:65536", "not a port"),
        ("localhost:http", "not a port"),
        ("[::1", "not a host"),
        ("[::1]8080", "not a host"),
    ],
)
def test_bad_ports_in_the_allow_list_are_named(entry: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=rf"\[1\]: {why}"):
        parse_allow_list(["localhost", entry])


async def test_resolved_addresses_are_held_to_the_port_of_the_entry() -> None:
    resolve = resolver({"intranet.example.com": ["10.0.0.7"]})
    await check_url("http://intranet.example.com:8000/", ["10.0.0.7:8000"], resolve=resolve)
    with pytest.raises(UrlRefused, match=r"resolving to private 10\.0\.0\.7"):
        await check_url("http://intranet.example.com:8001/", ["10.0.0.7:8000"], resolve=resolve)
