"""The budget columns of ``llmrouter costs --group-by api_key|team``: the router's budget rules
(``RouterAdminService.ListBudgets``) with what remains of each.

The router is reached as the gateway reaches it, from the same config: the first of
``gateway.router_addresses`` (or, left at its default, ``[router]`` host and port), TLS from
``[gateway.router_tls]``, the token in ``gateway.router_admin_token_env`` (else
``gateway.router_token_env``); ``--router`` and ``--admin-token-env`` override them. With no
token variable at all, ``$LLMROUTER_ADMIN_TOKEN`` is sent when set (``serve all``'s admin token).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from llmrouter.cli import LOCAL_TOKENS
from llmrouter.security import channel_factory, read_token
from llmrouter.v1 import router_admin_service_pb2 as pb
from llmrouter.v1 import router_admin_service_pb2_grpc

__all__ = ["Rule", "budget_cell", "read_budgets", "router_admin_target", "rules_of"]


@dataclass(frozen=True)
class Rule:
    """One budget rule and its current period, in USD."""

    id: str
    #: "key" or "team".
    scope: str
    #: The API key id or team id.
    subject: str
    #: "day", "week", "month" or "rolling:<seconds>".
    period: str
    spent_usd: float
    remaining_usd: float
    hard_usd: float


def read_budgets(
    config: str | None, address: str = "", token_env: str = "", timeout_s: float = 10.0
) -> list[Rule]:
    """Every budget rule of the router the config's gateway calls. Raises ConfigError for a
    bad config or unset token variable, grpc.aio.AioRpcError when the call fails."""
    address, opener = router_admin_target(config, address, token_env)

    async def call() -> pb.ListBudgetsResponse:
        async with opener(address) as channel:
            stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
            reply: pb.ListBudgetsResponse = await stub.ListBudgets(
                pb.ListBudgetsRequest(), timeout=timeout_s
            )
            return reply

    reply = asyncio.run(call())
    return [
        Rule(b.id, b.scope, b.subject, b.period, b.spent_usd, b.remaining_usd, b.hard_usd)
        for b in reply.budgets
    ]


def router_admin_target(
    config: str | None, address: str = "", token_env: str = ""
) -> tuple[str, Callable[[str], grpc.aio.Channel]]:
    """The router's address and a channel opener sending its admin token, as described at
    the top of this module (``address`` and ``token_env``: the flags). Raises ConfigError for
    a bad config or an unset token variable."""
    from gateway.channels import size_options
    from gateway.config import GatewayConfig
    from gateway.config import load_config as gateway_config
    from router_svc.config import load_config as router_config

    gateway = gateway_config(config)
    if not address:
        if gateway.router_addresses != GatewayConfig().router_addresses:
            address = gateway.router_addresses[0]
        else:
            router = router_config(config)
            host = "127.0.0.1" if router.host in ("0.0.0.0", "::", "") else router.host
            address = f"{host}:{router.port}"
    if token_env:
        token = read_token(token_env, "--admin-token-env")
    elif gateway.router_admin_token_env or gateway.router_token_env:
        name = gateway.router_admin_token_env or gateway.router_token_env
        token = read_token(name, "gateway.router_admin_token_env")
    else:
        admin_env = LOCAL_TOKENS["admin"]
        token = read_token(admin_env if os.environ.get(admin_env, "").strip() else "", admin_env)
    opener = channel_factory(
        gateway.router_tls, token=token, key="gateway.router_tls", options=size_options(gateway)
    )
    return address, opener


def rules_of(rules: Sequence[Rule], api_key_id: str, team_id: str) -> list[Rule]:
    """The rules whose subject is ``api_key_id`` (scope key) or ``team_id`` (scope team);
    an empty id matches nothing."""
    return [
        r
        for r in rules
        if (r.scope == "key" and api_key_id and r.subject == api_key_id)
        or (r.scope == "team" and team_id and r.subject == team_id)
    ]


def budget_cell(rules: Sequence[Rule]) -> str:
    """``alice-daily 0.9939/1.00 day; ...``: each rule's remaining and hard USD ("-": none)."""
    if not rules:
        return "-"
    return "; ".join(f"{r.id} {r.remaining_usd:.4f}/{r.hard_usd:.2f} {r.period}" for r in rules)
