"""What vetting resolved addresses costs a new upstream connection (issue 13, item 5).

Opens N fresh connections (no keep-alive, no DNS cache) to a local HTTP server through
aiohttp, by name (``localhost``, allow-listed), with aiohttp's default resolver and with
:class:`router_svc.providers.resolver.VettedResolver` around it; then the same with a pooled
connection, which resolves nothing; and the vetting step alone, over a resolver that answers
at once. Prints microseconds per request (median of rounds).

    .venv/bin/python bench/connect.py [--requests 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from router_svc.providers.resolver import HookResolver, VettedResolver
from router_svc.urls import AddressPolicy, parse_allow_list

_REPLY = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _round(url: str, resolver: AbstractResolver, requests: int, fresh: bool) -> float:
    connector = aiohttp.TCPConnector(force_close=fresh, use_dns_cache=False, resolver=resolver)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        for _ in range(requests):
            async with session.get(url) as response:
                await response.read()
        return (time.perf_counter() - start) / requests * 1e6


async def main(requests: int, rounds: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    url = f"http://localhost:{server.sockets[0].getsockname()[1]}/"
    policy = AddressPolicy(parse_allow_list(["localhost"]))
    for fresh in (True, False):
        results: dict[str, list[float]] = {"default resolver": [], "vetted resolver": []}
        for _ in range(rounds):
            results["default resolver"].append(
                await _round(url, DefaultResolver(), requests, fresh)
            )
            vetted = VettedResolver(policy, DefaultResolver())
            results["vetted resolver"].append(await _round(url, vetted, requests, fresh))
        kind = "new connection per request" if fresh else "pooled connection"
        for name, values in results.items():
            print(f"{kind:28} {name:17} {statistics.median(values):8.1f} us/request")
    server.close()
    await _vetting_alone(requests * 20)


async def _vetting_alone(calls: int) -> None:
    async def answer(host: str) -> list[str]:
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    plain = HookResolver(answer)
    vetted = VettedResolver(AddressPolicy(), HookResolver(answer))
    for name, resolver in (("hook resolver", plain), ("vetted hook resolver", vetted)):
        start = time.perf_counter()
        for _ in range(calls):
            await resolver.resolve("api.example.com", 443, 0)  # type: ignore[arg-type]
        per_call = (time.perf_counter() - start) / calls * 1e6
        print(f"{'resolve step only':28} {name:17} {per_call:8.1f} us/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
