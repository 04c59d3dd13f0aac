"""``llmrouter eval run [--limit N]``: run an evaluation job now (``RouterAdminService.
RunEvaluation``; README, "Evaluation jobs").

The router is reached as ``llmrouter costs`` reaches it for budgets
(:func:`llmrouter.cli.budgets.router_admin_target`): ``--router``, else the config's gateway
router address (or ``[router]`` host and port); the admin token from ``--admin-token-env``,
else ``gateway.router_admin_token_env``, else ``$LLMROUTER_ADMIN_TOKEN`` when set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

import grpc

from llmrouter.config import ConfigError
from llmrouter.v1 import router_admin_service_pb2 as pb
from llmrouter.v1 import router_admin_service_pb2_grpc

__all__ = ["add_parser", "run_eval"]


def add_parser(sub: Any, config_help: str) -> None:
    """The ``eval`` subcommand of ``llmrouter``."""
    evaluation = sub.add_parser("eval", help="evaluation jobs: grade sampled answers now")
    actions = evaluation.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="grade the pending samples with the judge model now")
    run.add_argument("--limit", type=int, default=0, help="grade at most N samples (0: all)")
    run.add_argument("--config", help=config_help)
    run.add_argument("--router", default="", help="router host:port (default: from config)")
    run.add_argument(
        "--admin-token-env",
        default="",
        help="environment variable holding a router token with the admin scope (default: "
        "gateway.router_admin_token_env, else LLMROUTER_ADMIN_TOKEN when set)",
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument(
        "--timeout", type=float, default=600.0, help="seconds the run may take (default 600)"
    )


def run_eval(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``llmrouter eval run``; 0 when the run went through, 1 with the reason otherwise."""
    from .budgets import router_admin_target

    if args.limit < 0:
        print("llmrouter eval run: --limit must not be negative", file=err)
        return 1
    try:
        address, opener = router_admin_target(args.config, args.router, args.admin_token_env)
    except ConfigError as exc:
        print(f"llmrouter eval run: {exc}", file=err)
        return 1

    async def call() -> pb.RunEvaluationResponse:
        async with opener(address) as channel:
            stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
            reply: pb.RunEvaluationResponse = await stub.RunEvaluation(
                pb.RunEvaluationRequest(limit=args.limit), timeout=args.timeout
            )
            return reply

    try:
        reply = asyncio.run(call())
    except grpc.aio.AioRpcError as exc:
        print(
            f"llmrouter eval run: the router at {address} answered {exc.code().name}: "
            f"{exc.details()}",
            file=err,
        )
        return 1
    result = {
        "graded": reply.graded_count,
        "failed": reply.failed_count,
        "pending": reply.pending_count,
        "judge_cost_usd": reply.judge_cost_usd,
    }
    if args.json:
        json.dump(result, out)
        out.write("\n")
    else:
        out.write(
            f"graded {reply.graded_count}, failed {reply.failed_count} (kept for the next "
            f"run), pending {reply.pending_count}; judge cost {reply.judge_cost_usd:.6f} USD\n"
        )
    return 0
