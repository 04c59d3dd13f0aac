"""``llmrouter usage``: a key's own usage and budgets, read from the gateway's ``GET /v1/usage``.

Unlike ``llmrouter costs`` (an operator's tool, on the metrics service's gRPC port), this needs
only a gateway API key, which need not be an admin key: the gateway answers with that key's own
spend, tokens and requests per model, and the budgets of the key and its team with what
remains. An admin key may name others (``--api-key-id``, ``--team-id``); another key doing so
gets the gateway's 403, printed as it says it.

The gateway is ``--gateway URL``, else ``http://<gateway.host>:<gateway.port>`` of the config
file (``serve`` reads the same one); the key is read from the variable ``--key-env`` names
(default ``LLMROUTER_KEY``), never from the command line, where other users could see it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import httpx

from llmrouter.cli.keys import DEFAULT_KEY_ENV as KEYS_KEY_ENV
from llmrouter.config import ConfigError

__all__ = ["DEFAULT_KEY_ENV", "gateway_url", "run_usage", "write_usage"]

DEFAULT_KEY_ENV = KEYS_KEY_ENV


def gateway_url(config: str | None, given: str = "") -> str:
    """``given``, else the gateway's own address from ``config`` (a wildcard host as
    127.0.0.1). Raises ConfigError for an invalid config."""
    if given:
        return given.rstrip("/")
    from gateway.config import load_config

    gateway = load_config(config)
    host = "127.0.0.1" if gateway.host in ("0.0.0.0", "::", "") else gateway.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{gateway.port}"


def run_usage(args: argparse.Namespace) -> int:
    """Print the caller's usage report; the exit status: 0, 1 (the gateway refused or could
    not be reached), 2 (bad flags or config)."""
    try:
        url = gateway_url(args.config, args.gateway)
    except ConfigError as exc:
        print(f"llmrouter usage: {exc}", file=sys.stderr)
        return 2
    key = os.environ.get(args.key_env, "").strip()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    params: list[tuple[str, str | int | float | bool | None]] = [("group_by", "model")]
    for flag, name in (
        ("since", "since"),
        ("start", "start"),
        ("end", "end"),
        ("api_key_id", "api_key_id"),
        ("team_id", "team_id"),
    ):
        if value := getattr(args, flag):
            params.append((name, value))
    try:
        reply = httpx.get(f"{url}/v1/usage", params=params, headers=headers, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(
            f"llmrouter usage: cannot reach the gateway at {url}: {type(exc).__name__}; is the "
            "stack running? Point elsewhere with --gateway URL or --config FILE",
            file=sys.stderr,
        )
        return 1
    hint = f" (set {args.key_env} to a gateway API key)"
    return print_reply("llmrouter usage", reply, hint, (401,), args.json, write_usage)


def print_reply(
    command: str,
    reply: httpx.Response,
    hint: str,
    hint_statuses: tuple[int, ...],
    as_json: bool,
    write: Callable[[dict[str, Any], TextIO], None],
) -> int:
    """Print a gateway's JSON ``reply`` as JSON or through ``write``: 0; or its error on
    stderr as ``<command>: <status>: <message>`` (plus ``hint`` for ``hint_statuses``): 1."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    if reply.status_code != 200 or not isinstance(body, dict):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or f"HTTP {reply.status_code}"
        shown = hint if reply.status_code in hint_statuses else ""
        print(f"{command}: {reply.status_code}: {message}{shown}", file=sys.stderr)
        return 1
    if as_json:
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write(body, sys.stdout)
    return 0


def write_usage(body: dict[str, Any], out: TextIO) -> None:
    """The report as text: whose, per model and total, then each budget with a bar."""
    caller = body.get("caller") or {}
    who = caller.get("api_key_id") or "(auth off)"
    team = f", team {caller['team_id']}" if caller.get("team_id") else ""
    admin = (
        " (admin: every key's usage unless --api-key-id/--team-id)" if caller.get("admin") else ""
    )
    window = f"{body.get('start') or 'the beginning'} to {body.get('end') or 'now'}"
    out.write(f"usage of key {who}{team}{admin}, {window}\n")
    header = ["model", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"]
    rows = [[g["model"] or "-", *(g[name] for name in header[1:])] for g in body.get("groups", [])]
    totals = body["totals"]
    rows.append(["TOTAL", *(totals[name] for name in header[1:])])
    _table(out, header, rows)
    budgets = body.get("budgets") or []
    if not budgets:
        out.write("no budget applies\n")
        return
    out.write("\n")
    header = ["budget", "applies_to", "period", "spent_usd", "remaining_usd", "hard_usd", "used"]
    rows = []
    for b in budgets:
        share = b["spent_usd"] / b["hard_usd"] if b["hard_usd"] else 1.0
        filled = min(20, round(share * 20))
        rows.append(
            [
                b["id"],
                f"{b['scope']} {b['subject']}",
                b["period"],
                f"{b['spent_usd']:.6f}",
                f"{b['remaining_usd']:.6f}",
                f"{b['hard_usd']:.2f}",
                f"[{'#' * filled}{'.' * (20 - filled)}] {share * 100:.1f}%",
            ]
        )
    _table(out, header, rows)


def _table(out: TextIO, header: list[str], rows: list[list[Any]]) -> None:
    text = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    for r in text:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
