"""``llmrouter keys ...`` and ``llmrouter teams ...``: virtual keys and teams through the
gateway's admin HTTP API (``/v1/admin/keys``, ``/v1/admin/teams``), as any admin client would.

The gateway is ``--gateway URL``, else ``http://<gateway.host>:<gateway.port>`` of the config
file (a wildcard host is reached on loopback). The admin key is read from the variable
``--key-env`` names (default ``LLMROUTER_KEY``), never from the command line (it would be
in the shell history and ``ps``). A created or rotated secret is printed once, on stdout
alone, so that ``$(llmrouter keys create ...)`` captures just the secret; the rest goes to
stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

import httpx

__all__ = ["DEFAULT_KEY_ENV", "add_parsers", "run_keys", "run_teams"]

DEFAULT_KEY_ENV = "LLMROUTER_KEY"


def add_parsers(sub: Any, config_help: str) -> None:
    """The ``keys`` and ``teams`` subcommands of ``llmrouter``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help=config_help)
    common.add_argument("--gateway", default="", help="gateway URL (default: from config)")
    common.add_argument(
        "--key-env",
        default=DEFAULT_KEY_ENV,
        help=f"variable holding an admin API key (default: {DEFAULT_KEY_ENV})",
    )
    common.add_argument("--timeout", type=float, default=10.0, help="seconds to wait")

    keys = sub.add_parser("keys", help="virtual API keys (create, list, rotate, revoke)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=[common], help="create a key; prints its secret")
    create.add_argument("name")
    create.add_argument("--team", default="", help="team id")
    create.add_argument("--role", choices=("user", "admin"), default="user")
    create.add_argument("--models", default="", help="comma-separated allowed models")
    create.add_argument("--categories", default="", help="comma-separated allowed categories")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--expires", default="", help="expiry, ISO 8601 with offset")
    create.add_argument("--budget", action="append", default=[], type=_budget, help=_BUDGET_HELP)
    listing = actions.add_parser("list", parents=[common], help="list keys")
    listing.add_argument("--team", default="", help="only this team's keys")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    rotate = actions.add_parser("rotate", parents=[common], help="a new secret for a key")
    rotate.add_argument("id")
    rotate.add_argument(
        "--overlap", type=float, default=3600.0, help="seconds the old secret keeps working"
    )
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a key")
    revoke.add_argument("id")

    teams = sub.add_parser("teams", help="teams of virtual keys (create, list)")
    team_actions = teams.add_subparsers(dest="action", required=True)
    team_create = team_actions.add_parser("create", parents=[common], help="create a team")
    team_create.add_argument("name")
    team_create.add_argument(
        "--budget", action="append", default=[], type=_budget, help=_BUDGET_HELP
    )
    team_list = team_actions.add_parser("list", parents=[common], help="list teams")
    team_list.add_argument("--json", action="store_true", help="JSON instead of a table")


def run_keys(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``llmrouter keys <action>``; 0 on success, 1 with the gateway's message otherwise."""
    with _client(args) as http:
        if args.action == "create":
            body: dict[str, Any] = {"name": args.name, "role": args.role}
            if args.team:
                body["team_id"] = args.team
            if args.models:
                body["allowed_models"] = _split(args.models)
            if args.categories:
                body["allowed_categories"] = _split(args.categories)
            if args.rpm is not None:
                body["rpm_limit"] = args.rpm
            if args.tpm is not None:
                body["tpm_limit"] = args.tpm
            if args.expires:
                body["expire_time"] = args.expires
            if args.budget:
                body["budgets"] = args.budget
            return _secret(http.post("/v1/admin/keys", json=body), out, err)
        if args.action == "rotate":
            body = {"overlap_seconds": args.overlap}
            return _secret(http.post(f"/v1/admin/keys/{args.id}/rotate", json=body), out, err)
        if args.action == "revoke":
            answer = http.post(f"/v1/admin/keys/{args.id}/revoke")
            if not _ok(answer, err):
                return 1
            print(f"revoked {args.id}", file=err)
            return 0
        params = {"include_revoked": "true"} if args.all else {}
        if args.team:
            params["team_id"] = args.team
        answer = http.get("/v1/admin/keys", params=params)
        if not _ok(answer, err):
            return 1
        keys = answer.json()["keys"]
        if args.json:
            json.dump(keys, out, indent=2)
            out.write("\n")
            return 0
        _table(
            out,
            (
                "id",
                "name",
                "role",
                "team_id",
                "allowed_models",
                "rpm_limit",
                "tpm_limit",
                "budgets",
                "expire_time",
                "revoke_time",
            ),
            keys,
        )
        return 0


def run_teams(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``llmrouter teams <action>``."""
    with _client(args) as http:
        if args.action == "create":
            team: dict[str, Any] = {"name": args.name}
            if args.budget:
                team["budgets"] = args.budget
            answer = http.post("/v1/admin/teams", json=team)
            if not _ok(answer, err):
                return 1
            out.write(answer.json()["id"] + "\n")
            return 0
        answer = http.get("/v1/admin/teams")
        if not _ok(answer, err):
            return 1
        teams = answer.json()["teams"]
        if args.json:
            json.dump(teams, out, indent=2)
            out.write("\n")
        else:
            _table(out, ("id", "name", "budgets", "create_time"), teams)
        return 0


def _client(args: argparse.Namespace) -> httpx.Client:
    """An httpx client for the gateway, with the admin key of ``args.key_env`` when set."""
    key = os.environ.get(args.key_env, "").strip()
    base = args.gateway or _gateway_url(args.config)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base, headers=headers, timeout=args.timeout)


def _gateway_url(config: str | None) -> str:
    from gateway.config import load_config

    gateway = load_config(config)
    host = gateway.host if gateway.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{gateway.port}"


def _ok(answer: httpx.Response, err: TextIO) -> bool:
    if answer.is_success:
        return True
    try:
        message = answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = answer.text[:200]
    print(f"error: HTTP {answer.status_code}: {message}", file=err)
    return False


def _secret(answer: httpx.Response, out: TextIO, err: TextIO) -> int:
    if not _ok(answer, err):
        return 1
    key = answer.json()
    print(
        f"key {key['id']} ({key['name']}): its secret follows; it is shown this once",
        file=err,
    )
    out.write(key["secret"] + "\n")
    return 0


_BUDGET_HELP = (
    "a budget, PERIOD:HARD_USD[:SOFT_USD] (PERIOD day, week, month or rolling-SECONDS; "
    "HARD_USD may be empty for an alerting-only budget), e.g. month:50:40; repeatable"
)


def _budget(text: str) -> dict[str, Any]:
    """A ``--budget`` value as the admin API's budget object. Raises ArgumentTypeError."""
    period, _, limits = text.partition(":")
    hard, _, soft = limits.partition(":")
    budget: dict[str, Any] = {"period": period}
    if period.startswith("rolling-"):
        seconds = period.removeprefix("rolling-")
        if not seconds.isdigit():
            raise argparse.ArgumentTypeError(f"{text!r}: rolling-SECONDS, e.g. rolling-3600")
        budget = {"period": "rolling", "rolling_seconds": int(seconds)}
    elif period not in ("day", "week", "month"):
        raise argparse.ArgumentTypeError(f"{text!r}: the period is day, week, month or rolling-N")
    try:
        if hard:
            budget["hard_usd"] = float(hard)
        if soft:
            budget["soft_usd"] = float(soft)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: USD amounts are numbers") from None
    if "hard_usd" not in budget and "soft_usd" not in budget:
        raise argparse.ArgumentTypeError(f"{text!r}: give HARD_USD, SOFT_USD or both")
    return budget


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _table(out: TextIO, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    cells = [[_cell(row.get(c), c) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any, column: str = "") -> str:
    if value is None or (column == "budgets" and not value):
        return "-"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return ",".join(_budget_text(v) for v in value)  # budgets, as --budget takes them
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(all)"
    return str(value)


def _budget_text(budget: dict[str, Any]) -> str:
    period = budget.get("period", "?")
    if period == "rolling":
        period = f"rolling-{budget.get('rolling_seconds')}"
    hard, soft = budget.get("hard_usd"), budget.get("soft_usd")
    text = f"{period}:{'' if hard is None else f'{hard:g}'}"
    return text + (f":{soft:g}" if soft is not None else "")
