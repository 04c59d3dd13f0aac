"""``llmrouter quality``: the router's quality estimates per model x category, read from the
gateway's ``GET /v1/admin/quality`` (an admin key's view, as the dashboard's Quality page).

The gateway and the key are found as ``llmrouter usage`` finds them: ``--gateway URL`` or the
config's gateway address, the key from the variable ``--key-env`` names (default
``LLMROUTER_KEY``), never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

import httpx

from llmrouter.cli.usage import DEFAULT_KEY_ENV, gateway_url, print_reply
from llmrouter.config import ConfigError

__all__ = ["add_parser", "run_quality", "write_quality"]


def add_parser(sub: Any, config_help: str) -> None:
    """The ``quality`` subcommand's flags."""
    quality = sub.add_parser(
        "quality", help="the router's quality estimates per model x category (admin key)"
    )
    quality.add_argument("--gateway", default="", help="gateway URL (default: from config)")
    quality.add_argument("--config", help=config_help)
    quality.add_argument(
        "--key-env",
        default=DEFAULT_KEY_ENV,
        help=f"environment variable holding an admin API key (default: {DEFAULT_KEY_ENV})",
    )
    quality.add_argument("--json", action="store_true", help="print the gateway's JSON as is")
    quality.add_argument("--timeout", type=float, default=10.0, help="seconds to wait")


def run_quality(args: argparse.Namespace) -> int:
    """Print the estimates; the exit status: 0, 1 (refused or unreachable), 2 (bad config)."""
    try:
        url = gateway_url(args.config, args.gateway)
    except ConfigError as exc:
        print(f"llmrouter quality: {exc}", file=sys.stderr)
        return 2
    key = os.environ.get(args.key_env, "").strip()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        reply = httpx.get(f"{url}/v1/admin/quality", headers=headers, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(
            f"llmrouter quality: cannot reach the gateway at {url}: {type(exc).__name__}",
            file=sys.stderr,
        )
        return 1
    hint = f" (set {args.key_env} to an admin API key)"
    return print_reply("llmrouter quality", reply, hint, (401, 403), args.json, write_quality)


def write_quality(body: dict[str, Any], out: TextIO) -> None:
    """One line per model x category: prior, scores, estimate, 90 % interval, what scoring uses."""
    estimates = body.get("estimates") or []
    if not estimates:
        out.write("no feedback yet: every model is scored by its configured quality\n")
        return
    header = ["model", "category", "prior", "scores", "user", "judge", "estimate", "90% interval"]
    rows = [
        [
            e["model"],
            e["category"] or "-",
            f"{e['prior']:.2f}",
            str(e["samples"]),
            str(e["user_samples"]),
            str(e["judge_samples"]),
            f"{e['estimate']:.3f}",
            f"{e['lower']:.3f}-{e['upper']:.3f}",
            "estimate" if e["in_use"] else "prior",
        ]
        for e in estimates
    ]
    text = [[*header, "scoring uses"], *rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(text[0]))]
    for r in text:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    out.write(f"(an estimate is used once its scores weigh {body.get('min_samples', 0)})\n")
