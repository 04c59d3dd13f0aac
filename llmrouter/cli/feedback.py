"""``llmrouter feedback export``: the stored scores of answers as JSONL for ``llmrouter
eval-router`` (:mod:`.feedback_export` does the work; this module only defines the command,
so that building ``llmrouter``'s parser loads no gRPC)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run_feedback"]


def add_parser(sub: Any, config_help: str) -> None:
    """The ``feedback`` subcommand of ``llmrouter``."""
    feedback = sub.add_parser("feedback", help="scores of answers stored by the metrics service")
    actions = feedback.add_subparsers(dest="action", required=True)
    export = actions.add_parser(
        "export",
        help="stored scores as JSONL (request_id, model, category, score, source, time)",
    )
    export.add_argument("--config", help=config_help)
    export.add_argument("--metrics", help="metrics service host:port (default: from config)")
    export.add_argument(
        "--since", default="", help="only scores stored (or replaced) in this window, e.g. 7d"
    )
    export.add_argument(
        "--source",
        action="append",
        default=[],
        help="only scores of this source: user, judge:<model>, or a prefix ending in ':' "
        "(judge: matches every judge); repeatable",
    )
    export.add_argument("--timeout", type=float, default=30.0, help="seconds per page")
    export.add_argument(
        "--token-env",
        default="",
        help="environment variable holding a metrics token with the read scope "
        "(default: gateway.metrics_token_env, else LLMROUTER_READ_TOKEN when set)",
    )


def run_feedback(args: argparse.Namespace) -> int:
    """Run ``feedback export``; returns the exit status."""
    from .feedback_export import run

    return run(args)
