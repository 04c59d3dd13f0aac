"""``llmrouter``: run the services and read the cost ledger.

llmrouter serve router|metrics|gateway|all [--config FILE]
llmrouter costs [--config FILE] [--since 24h | --month 2026-11 | --start ISO --end ISO]
                [--group-by model,provider] [--bucket hour|day] [--csv] [--token-env VAR]
llmrouter usage [--config FILE | --gateway URL] [--key-env VAR] [--since 24h] [--json]
llmrouter keys create NAME [--team ID] [--role user|admin] [--models a,b] [--rpm N] ...
llmrouter keys list|rotate ID [--overlap S]|revoke ID;  llmrouter teams create NAME|list
llmrouter eval run [--limit N] [--router HOST:PORT] [--admin-token-env VAR] [--json]
llmrouter eval-router LABELLED.jsonl [--config FILE] [--price MODEL=IN,OUT] [--chart PNG]
                [--out DIR] [--format text|json|csv] [--thresholds 0.5:0.95:0.05] [--folds 5]
                [--embeddings-url URL --embedding-model M] [--prompts PROMPTS.jsonl]
llmrouter feedback export [--since 7d] [--source user] [--metrics HOST:PORT] > scores.jsonl

Every command reads the config file :func:`llmrouter.config.config_path` picks: ``--config``,
else ``$LLMROUTER_CONFIG``, else ``./llmrouter.toml`` when present; ``serve`` hands it to each
service it starts.

``serve all`` closes the gRPC ports of the stack it starts: a router or metrics service whose
config names no credential gets scoped tokens for this run (from ``LLMROUTER_*_TOKEN`` when
set, random otherwise), passed to the children through their environment only.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["EXIT_CLOSED_STDOUT", "LOCAL_TOKENS", "closed_stdout", "main"]

SERVICES = ("metrics", "router", "gateway")  # start order; stopped in reverse
_MODULES = {"router": "router_svc", "metrics": "metrics_svc", "gateway": "gateway"}
# Variables holding the tokens ``serve all`` hands out (as compose names them), by scope.
LOCAL_TOKENS = {
    "inference": "LLMROUTER_INFERENCE_TOKEN",
    "admin": "LLMROUTER_ADMIN_TOKEN",
    "record": "LLMROUTER_RECORD_TOKEN",
    "read": "LLMROUTER_READ_TOKEN",
}


# Exit status of a command whose reader closed stdout early (``| head -1``): 128 + SIGPIPE, what
# a shell reports for a command the signal ended.
EXIT_CLOSED_STDOUT = 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmrouter`` command."""
    try:
        status = _main(argv)
        # Flushed here, not at exit, so that a closed pipe is caught below.
        sys.stdout.flush()
    except BrokenPipeError:
        return closed_stdout()
    return status


def closed_stdout() -> int:
    """Quietly end a command whose stdout reader went away (Python's signal docs, "Note on
    SIGPIPE"): stdout points at /dev/null so that the interpreter's final flush raises
    nothing. Returns :data:`EXIT_CLOSED_STDOUT`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is no file (a test's StringIO): nothing will flush into the pipe
    finally:
        os.close(devnull)
    return EXIT_CLOSED_STDOUT


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="llmrouter", description="llmrouter command line")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one service, or all three")
    serve.add_argument("service", choices=(*SERVICES, "all"))
    serve.add_argument("--config", help=_CONFIG_HELP)

    costs = sub.add_parser("costs", help="print costs from the metrics service")
    costs.add_argument("--metrics", help="metrics service host:port (default: from config)")
    costs.add_argument("--config", help=_CONFIG_HELP)
    window = costs.add_mutually_exclusive_group()
    window.add_argument("--since", default="", help="window ending now, e.g. 30m, 24h, 7d")
    window.add_argument("--month", default="", help="a calendar month (UTC), e.g. 2026-11")
    window.add_argument("--start", default="", help="window start, ISO 8601 (UTC if no zone)")
    costs.add_argument("--end", default="", help="window end, ISO 8601 (with --start)")
    costs.add_argument(
        "--group-by",
        default="",
        help="comma-separated: provider, model, category, source, api_key, team, deployment "
        "(api_key or team adds each row's budgets, remaining/hard USD)",
    )
    costs.add_argument("--bucket", choices=("hour", "day"), help="also group by time bucket")
    costs.add_argument("--reference", default="", help="reference model for savings")
    costs.add_argument("--csv", action="store_true", help="write CSV instead of a table")
    costs.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    costs.add_argument(
        "--token-env",
        default="",
        help="environment variable holding a metrics token with the read scope "
        f"(default: {LOCAL_TOKENS['read']}, when set)",
    )
    costs.add_argument(
        "--router", default="", help="router host:port for budgets (default: from config)"
    )
    costs.add_argument(
        "--admin-token-env",
        default="",
        help="environment variable holding a router token with the admin scope, for budgets "
        f"(default: gateway.router_admin_token_env, else {LOCAL_TOKENS['admin']} when set)",
    )

    usage = sub.add_parser(
        "usage", help="a key's own usage and budgets, from the gateway (no admin rights needed)"
    )
    usage.add_argument("--gateway", default="", help="gateway URL (default: from config)")
    usage.add_argument("--config", help=_CONFIG_HELP)
    usage.add_argument(
        "--key-env",
        default="LLMROUTER_KEY",
        help="environment variable holding the gateway API key (default: LLMROUTER_KEY)",
    )
    usage_window = usage.add_mutually_exclusive_group()
    usage_window.add_argument("--since", default="", help="window ending now, e.g. 24h, 7d")
    usage_window.add_argument("--start", default="", help="window start, ISO 8601 or unix")
    usage.add_argument("--end", default="", help="window end, ISO 8601 or unix")
    usage.add_argument("--api-key-id", default="", help="another key's usage (admin keys only)")
    usage.add_argument("--team-id", default="", help="a team's usage (admin keys, or own team)")
    usage.add_argument("--json", action="store_true", help="print the gateway's JSON as is")
    usage.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")

    from .evaluation import add_parser as add_eval_parser
    from .keys import add_parsers
    from .quality import add_parser as add_quality

    add_parsers(sub, _CONFIG_HELP)
    add_eval_parser(sub, _CONFIG_HELP)

    from .eval_router import add_parser as add_eval_router

    add_eval_router(sub, _CONFIG_HELP)

    from .feedback import add_parser as add_feedback

    add_feedback(sub, _CONFIG_HELP)
    add_quality(sub, _CONFIG_HELP)

    args = parser.parse_args(argv)
    from llmrouter.config import config_path

    args.config = config_path(args.config)
    if args.command == "serve":
        if args.service == "all":
            return _serve_all(args.config)
        return _serve_one(args.service, args.config)
    if args.command == "usage":
        from .usage import run_usage

        return run_usage(args)
    if args.command == "eval":
        from .evaluation import run_eval

        return run_eval(args)
    if args.command == "feedback":
        from .feedback import run_feedback

        return run_feedback(args)
    if args.command == "eval-router":
        from .eval_router import run_eval_router

        return run_eval_router(args)
    if args.command == "quality":
        from .quality import run_quality

        return run_quality(args)
    if args.command in ("keys", "teams"):
        import httpx

        from .keys import run_keys, run_teams

        try:
            return run_keys(args) if args.command == "keys" else run_teams(args)
        except httpx.HTTPError as exc:
            print(f"error: cannot reach the gateway: {exc}", file=sys.stderr)
            return 1
    from .costs import run_costs

    return run_costs(args)


_CONFIG_HELP = "TOML config file (default: $LLMROUTER_CONFIG, else ./llmrouter.toml if present)"


def _serve_one(service: str, config: str | None) -> int:
    argv = ["--config", config] if config else []
    if service == "router":
        from router_svc.server import main as router_main

        return router_main(argv)
    if service == "metrics":
        from metrics_svc.server import main as metrics_main

        return metrics_main(argv)
    from gateway.app import main as gateway_main

    return gateway_main(argv)


def _plan(
    config: str | None, environ: Mapping[str, str]
) -> tuple[dict[str, tuple[str, int]], dict[str, dict[str, str]]]:
    """host and port of each service, as the services themselves will read them, and the
    variables each child gets on top of ``environ``: this run's tokens (see :func:`_tokens`),
    and the router's and metrics service's addresses where they moved (see :func:`_follow`).

    Exits 2 with one line per problem when the config is invalid or a port is taken."""
    from gateway.config import GatewayConfig as GatewayDefaults
    from gateway.config import load_config as gateway_config
    from llmrouter.config import ConfigError
    from metrics_svc.config import load_config as metrics_config
    from router_svc.config import RouterConfig as RouterDefaults
    from router_svc.config import load_config as router_config

    try:
        r = router_config(config, environ=environ)
        m = metrics_config(config, environ)
        g = gateway_config(config, environ)
    except ConfigError as exc:
        print(f"llmrouter: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    endpoints = {
        "router": (r.host, r.port),
        "metrics": (m.host, m.port),
        "gateway": (g.host, g.port),
    }
    _check_ports(
        [
            ("metrics.port", m.host, m.port),
            ("metrics.prometheus_port", m.host, m.prometheus_port),
            ("router.port", r.host, r.port),
            ("router.prometheus_port", r.host, r.prometheus_port),
            ("gateway.port", g.host, g.port),
        ]
    )
    envs = _tokens(
        router_open=not (r.auth_token_envs or r.auth_tokens or r.tls.client_ca_file),
        metrics_open=not (m.auth_token_envs or m.auth_tokens or m.tls.client_ca_file),
        environ=environ,
    )
    router_at = _connect_address(r.host, r.port)
    metrics_at = _connect_address(m.host, m.port)
    for child, setting, value, default, target in (
        (
            "gateway",
            "router_addresses",
            g.router_addresses,
            GatewayDefaults.router_addresses,
            router_at,
        ),
        (
            "gateway",
            "metrics_address",
            (g.metrics_address,),
            (GatewayDefaults.metrics_address,),
            metrics_at,
        ),
        (
            "router",
            "metrics_address",
            (r.metrics_address,),
            (RouterDefaults.metrics_address,),
            metrics_at,
        ),
    ):
        followed = _follow(f"{child}.{setting}", value, default, target)
        if followed:
            envs[child][f"LLMROUTER_{child.upper()}_{setting.upper()}"] = followed
    return endpoints, envs


def _connect_address(host: str, port: int) -> str:
    """Where a client on this machine reaches a server bound to ``host:port``."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _follow(setting: str, value: tuple[str, ...], default: tuple[str, ...], target: str) -> str:
    """The address ``setting`` should hold so that it reaches ``target``, the service ``serve
    all`` starts ("" to leave it): a value left at its built-in default follows the service
    (its port moved with ``router.port`` or ``metrics.port``); a value the config chose is
    kept, with a warning when none of its addresses has the service's port."""
    if value == default:
        return "" if target in value else target
    port = target.rpartition(":")[2]
    if not any(address.rpartition(":")[2] == port for address in value):
        print(
            f"llmrouter: warning: {setting} ({', '.join(value)}) does not name the port of "
            f"the service started here ({target}); remove it from the config to follow it",
            file=sys.stderr,
        )
    return ""


def _check_ports(listeners: Sequence[tuple[str, str, int]]) -> None:
    """Exit 2 before anything starts when a port of ``listeners`` (config key, host, port; 0
    means none) is taken or named twice: one line per port, saying which key moves it (the
    Prometheus ports may also be turned off)."""
    from llmrouter.serving import StartupError, check_bindable, port_hint

    problems: list[str] = []
    seen: dict[int, str] = {}
    for setting, host, port in listeners:
        if port == 0:
            continue
        if port in seen:
            problems.append(
                f"{seen[port]} and {setting} both name port {port} ({port_hint(setting)})"
            )
            continue
        seen[port] = setting
        try:
            check_bindable(host, port, setting, zero_turns_off="prometheus" in setting)
        except StartupError as exc:
            problems.append(str(exc))
    for problem in problems:
        print(f"llmrouter: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)


def _tokens(
    *, router_open: bool, metrics_open: bool, environ: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Each child's extra variables: scoped tokens for the services configured without any
    credential (a token's value from ``environ`` when set there, else random for this run).

    The gateway gets the inference, admin and read tokens, the router its record token; each
    server learns which variables hold its tokens and their scopes (``*_AUTH_TOKENS``).
    """
    envs: dict[str, dict[str, str]] = {name: {} for name in SERVICES}

    def value(scope: str) -> str:
        return environ.get(LOCAL_TOKENS[scope], "").strip() or secrets.token_urlsafe(32)

    if router_open:
        inference, admin = LOCAL_TOKENS["inference"], LOCAL_TOKENS["admin"]
        tokens = {inference: value("inference"), admin: value("admin")}
        envs["router"] |= tokens | {
            "LLMROUTER_ROUTER_AUTH_TOKENS": f"{inference}:inference,{admin}:admin"
        }
        envs["gateway"] |= tokens | {
            "LLMROUTER_GATEWAY_ROUTER_TOKEN_ENV": inference,
            "LLMROUTER_GATEWAY_ROUTER_ADMIN_TOKEN_ENV": admin,
        }
    if metrics_open:
        record, read = LOCAL_TOKENS["record"], LOCAL_TOKENS["read"]
        record_token, read_token = value("record"), value("read")
        envs["metrics"] |= {
            record: record_token,
            read: read_token,
            # The router records usage and reads it back (budgets, quality estimates), its
            # evaluation judges score answers; the gateway reads and stores users' feedback.
            "LLMROUTER_METRICS_AUTH_TOKENS": f"{record}:record+read+feedback,{read}:read+feedback",
        }
        envs["router"] |= {record: record_token, "LLMROUTER_ROUTER_METRICS_TOKEN_ENV": record}
        envs["gateway"] |= {read: read_token, "LLMROUTER_GATEWAY_METRICS_TOKEN_ENV": read}
    return envs


def _serve_all(config: str | None) -> int:
    """Start metrics, router and gateway as child processes; stop them in reverse on a signal."""
    endpoints, extra_env = _plan(config, os.environ)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children: dict[str, subprocess.Popen[bytes]] = {}
    code = 0
    try:
        for name in SERVICES:
            cmd = [sys.executable, "-m", _MODULES[name]]
            if config:
                cmd += ["--config", config]
            children[name] = subprocess.Popen(
                cmd, start_new_session=True, env={**os.environ, **extra_env[name]}
            )
            if not _wait_ready(name, endpoints[name], children[name], lambda: stopping):
                # A child's 2 is a config or start-up error it has explained in one line.
                code = 2 if children[name].poll() == 2 else 1
                return code
        _print_banner(endpoints, _grpc_note(extra_env, os.environ), config)
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(
                        f"llmrouter: {name} exited with status {child.returncode}", file=sys.stderr
                    )
                    code = 1
                    return code
            time.sleep(0.2)
        return code
    finally:
        for name in reversed(SERVICES):
            running = children.get(name)
            if running is None or running.poll() is not None:
                continue
            child = running
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        print("llmrouter: stopped", file=sys.stderr)


def _wait_ready(
    name: str,
    endpoint: tuple[str, int],
    child: subprocess.Popen[bytes],
    stopping: Any,
    timeout_s: float = 30.0,
) -> bool:
    host, port = endpoint
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stopping():
        if child.poll() is not None:
            status = child.returncode
            print(f"llmrouter: {name} failed to start (status {status})", file=sys.stderr)
            return False
        if _ready(name, host, port):
            return True
        time.sleep(0.1)
    if not stopping():
        print(
            f"llmrouter: {name} not ready on {host}:{port} after {timeout_s:.0f}s", file=sys.stderr
        )
    return False


def _ready(name: str, host: str, port: int) -> bool:
    if name == "gateway":
        import httpx

        try:
            return httpx.get(f"http://{host}:{port}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1.0
            )
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _grpc_note(extra_env: dict[str, dict[str, str]], environ: Mapping[str, str]) -> str:
    """The banner's line on the gRPC ports' tokens ("" when the config set credentials)."""
    read = LOCAL_TOKENS["read"]
    if not any(extra_env.values()):
        return ""
    if read not in extra_env["metrics"]:
        return "gRPC: router and metrics take only this run's tokens (random, in their env)"
    if environ.get(read, "").strip():
        return f"gRPC: router and metrics take only this run's tokens; llmrouter costs uses ${read}"
    return (
        "gRPC: router and metrics take only this run's random tokens "
        f"(export {read}=<long random string> before starting, for llmrouter costs)"
    )


def _print_banner(
    endpoints: dict[str, tuple[str, int]], grpc_note: str = "", config: str | None = None
) -> None:
    """What runs where and what to try first; ``config`` is the file the stack read, which
    the costs hint names so that it reads this stack's ledger, not another's."""
    import httpx

    from gateway.app import AUTH_OFF

    gh, gp = endpoints["gateway"]
    # Ask the running gateway whether it wants API keys: the answer reflects the config file
    # and the environment it actually loaded.
    probe = "127.0.0.1" if gh in ("0.0.0.0", "::", "") else gh
    try:
        auth = httpx.get(f"http://{probe}:{gp}/healthz", timeout=2.0).json().get("auth")
    except (httpx.HTTPError, ValueError, AttributeError):
        auth = None
    gh = "localhost" if gh in ("127.0.0.1", "0.0.0.0", "::") else gh
    rh, rp = endpoints["router"]
    mh, mp = endpoints["metrics"]
    body = '{"model":"auto","messages":[{"role":"user","content":"hi"}]}'
    costs_config = f" --config {shlex.quote(os.path.abspath(config))}" if config else ""
    # The address this stack's metrics service listens on, whatever moved it (file or
    # environment): the hint never reads another stack's ledger.
    metrics_host = "127.0.0.1" if mh in ("0.0.0.0", "::", "") else mh
    costs_config += f" --metrics {metrics_host}:{mp}"
    lines = [
        "llmrouter is running (Ctrl-C stops it):",
        f"  gateway  http://{gh}:{gp}   OpenAI API: /v1/chat/completions, /v1/models",
        f"  router   {rh}:{rp}   gRPC llmrouter.v1.RouterService",
        f"  metrics  {mh}:{mp}   gRPC llmrouter.v1.MetricsService",
        f"  config   {os.path.abspath(config)}" if config else "  config   built-in defaults",
        *([f"  {AUTH_OFF}"] if auth == "disabled" else []),
        *([f"  {grpc_note}"] if grpc_note else []),
        "Try:",
        f"  curl -s http://{gh}:{gp}/v1/chat/completions -H 'content-type: application/json' \\",
        *([] if auth == "disabled" else ['       -H "authorization: Bearer $LLMROUTER_KEY" \\']),
        f"       -d '{body}'",
        f"  .venv/bin/llmrouter costs{costs_config} --group-by model",
    ]
    print("\n".join(lines), flush=True)
