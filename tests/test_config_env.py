"""Environment overrides reach every config key (nested tables included), and an unknown
``LLMROUTER_*`` variable, section or key stops the start, naming it and the closest known name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ENV_SHORTCUTS as GATEWAY_SHORTCUTS
from gateway.config import GatewayConfig
from gateway.config import load_config as gateway_config
from llmrouter.cli import LOCAL_TOKENS
from llmrouter.config import ConfigError
from llmrouter.config_env import ALLOWED_VARIABLES, env_keys, unknown_variables
from metrics_svc.config import ENV_SHORTCUTS as METRICS_SHORTCUTS
from metrics_svc.config import MetricsConfig
from metrics_svc.config import load_config as metrics_config
from router_svc.config import ENV_SHORTCUTS as ROUTER_SHORTCUTS
from router_svc.config import RouterConfig
from router_svc.config import load_config as router_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS: dict[str, tuple[type[Any], dict[str, str]]] = {
    "router": (RouterConfig, ROUTER_SHORTCUTS),
    "metrics": (MetricsConfig, METRICS_SHORTCUTS),
    "gateway": (GatewayConfig, GATEWAY_SHORTCUTS),
}
# Misspelt on purpose where the repository shows what a typo gets (README, these tests);
# each must be refused (test_the_deliberate_typos_are_refused), so this is no loophole.
WRONG_ON_PURPOSE = {
    "LLMROUTER_ROUTER_PROT": "LLMROUTER_ROUTER_PORT",
    "LLMROUTER_ROUTR_PORT": "LLMROUTER_ROUTER_PORT",
    "LLMROUTER_ROUTER_RETRY_ATTEMPTS": "LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL",
    "LLMROUTER_GATEWAY_API_KEY": "LLMROUTER_GATEWAY_API_KEYS",
}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "llmrouter.toml"
    path.write_text(text)
    return str(path)


def test_nested_keys_are_set_and_typed(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[router.retry]\nbackoff_base_s = 0.25\n[router.breaker]\nbase_ejection_s = 1.0\n"
    )
    env = {
        "LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL": "3",
        "LLMROUTER_ROUTER_BREAKER_FAILURE_RATE": "0.75",
        "LLMROUTER_ROUTER_BREAKER_MAX_EJECTION_S": "2.5",
        "LLMROUTER_ROUTER_METRICS_TLS_ENABLED": "on",
        "LLMROUTER_ROUTER_METRICS_TLS_SERVER_NAME": "metrics.internal",
    }
    config = router_config(path, environ=env)
    assert config.retry.attempts_per_model == 3
    assert config.retry.backoff_base_s == 0.25  # the file's key beside the variable's
    assert config.breaker.failure_rate == 0.75
    assert config.breaker.max_ejection_s == 2.5
    assert config.metrics_tls.enabled is True
    assert config.metrics_tls.server_name == "metrics.internal"
    # An optional key: a number sets it (the deprecated cooldown_s becomes max_ejection_s),
    # an empty value leaves it unset.
    env = {"LLMROUTER_ROUTER_BREAKER_COOLDOWN_S": "7"}
    assert router_config(path, environ=env).breaker.max_ejection_s == 7.0
    env = {"LLMROUTER_ROUTER_BREAKER_COOLDOWN_S": ""}
    assert router_config(path, environ=env).breaker.max_ejection_s == 60.0

    gateway = gateway_config(
        None,
        {
            "LLMROUTER_GATEWAY_ROUTER_ADDRESSES": "127.0.0.1:7001, 127.0.0.1:7002",
            "LLMROUTER_GATEWAY_METRICS_TLS_CA_FILE": "/etc/ca.pem",
            "LLMROUTER_GATEWAY_AUTH_ENABLED": "false",
        },
    )
    assert gateway.router_addresses == ("127.0.0.1:7001", "127.0.0.1:7002")
    assert gateway.metrics_tls.ca_file == "/etc/ca.pem"
    assert gateway.auth_enabled is False
    metrics = metrics_config(None, {"LLMROUTER_METRICS_TLS_CLIENT_CA_FILE": ""})
    assert metrics.tls.client_ca_file == ""


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[router.retry]\nattempts_per_model = 5\n")
    assert router_config(path, environ={}).retry.attempts_per_model == 5
    env = {"LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL": "1"}
    assert router_config(path, environ=env).retry.attempts_per_model == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL",
            "two",
            "LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL: expected an integer, got 'two' "
            "(sets router.retry.attempts_per_model)",
        ),
        (
            "LLMROUTER_ROUTER_METRICS_TLS_ENABLED",
            "maybe",
            "LLMROUTER_ROUTER_METRICS_TLS_ENABLED: expected true or false, got 'maybe' "
            "(sets router.metrics_tls.enabled)",
        ),
        (
            # Long values are not quoted: a token in the wrong variable stays unprinted.
            "LLMROUTER_ROUTER_BREAKER_WINDOW_S",
            "sk-0123456789abcdef0123",
            "LLMROUTER_ROUTER_BREAKER_WINDOW_S: expected a number, got 23 characters "
            "(sets router.breaker.window_s)",
        ),
        (
            # Parsed, but refused by the key's own check: the message says which variable.
            "LLMROUTER_ROUTER_BREAKER_MAX_EJECTION_S",
            "inf",
            "router.breaker.max_ejection_s: must be a finite number, got inf "
            "(set by LLMROUTER_ROUTER_BREAKER_MAX_EJECTION_S)",
        ),
    ],
)
def test_bad_value_names_the_variable_and_the_key(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        router_config(None, environ={variable: value})
    assert str(info.value) == message


def test_unknown_variables_are_named_with_a_suggestion() -> None:
    cases = {
        # A typo in the key, in the section, a name cut short, a shortcut misspelt.
        (router_config, "LLMROUTER_ROUTER_PROT"): "did you mean LLMROUTER_ROUTER_PORT?",
        (router_config, "LLMROUTER_ROUTR_PORT"): "did you mean LLMROUTER_ROUTER_PORT?",
        (gateway_config, "LLMROUTER_ROUTR_PORT"): "did you mean LLMROUTER_ROUTER_PORT?",
        (router_config, "LLMROUTER_ROUTER_RETRY_ATTEMPTS"): (
            "did you mean LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL?"
        ),
        (gateway_config, "LLMROUTER_GATEWAY_API_KEY"): "did you mean LLMROUTER_GATEWAY_API_KEYS?",
    }
    for (load, variable), suggestion in cases.items():
        with pytest.raises(ConfigError) as info:
            load(None, environ={variable: "1"})  # type: ignore[operator]
        assert str(info.value) == f"{variable}: unknown variable ({suggestion})"


def test_tables_and_lists_of_tables_are_not_variables() -> None:
    with pytest.raises(ConfigError) as info:
        router_config(None, environ={"LLMROUTER_ROUTER_RETRY": "3"})
    assert str(info.value) == (
        "LLMROUTER_ROUTER_RETRY: router.retry is a table; set its keys one by one, e.g. "
        "LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL"
    )
    with pytest.raises(ConfigError) as info:
        router_config(None, environ={"LLMROUTER_ROUTER_MODELS": "gpt-4o"})
    assert str(info.value) == (
        "LLMROUTER_ROUTER_MODELS: router.models is a list of tables, set in the config file only"
    )
    with pytest.raises(ConfigError) as info:
        metrics_config(None, {"LLMROUTER_METRICS_CLIENT_CERTS": "x"})
    assert str(info.value) == (
        "LLMROUTER_METRICS_CLIENT_CERTS: metrics.client_certs is a list of tables, set in the "
        "config file only"
    )


def test_every_unknown_variable_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        router_config(None, environ={"LLMROUTER_ROUTER_PROT": "1", "LLMROUTER_ROUTER_HOTS": "x"})
    assert str(info.value) == (
        "LLMROUTER_ROUTER_HOTS: unknown variable (did you mean LLMROUTER_ROUTER_HOST?); "
        "LLMROUTER_ROUTER_PROT: unknown variable (did you mean LLMROUTER_ROUTER_PORT?)"
    )


def test_variables_the_config_names_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[router]
metrics_token_env = "LLMROUTER_MY_RECORD"
auth_tokens = [{ env = "LLMROUTER_MY_GATEWAY", scopes = ["inference"] }]
[[router.providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "LLMROUTER_OPENAI"
[[router.models]]
name = "gpt-4o"
provider = "openai"
""",
    )
    env = {
        "LLMROUTER_MY_RECORD": "r" * 32,
        "LLMROUTER_MY_GATEWAY": "g" * 32,
        "LLMROUTER_OPENAI": "sk-test",
        "LLMROUTER_FROM_SHORTCUT": "s" * 32,
        "LLMROUTER_ROUTER_AUTH_TOKENS": "LLMROUTER_FROM_SHORTCUT:admin",
        "LLMROUTER_ROUTER_DEFAULT_CHAIN": "gpt-4o",
    }
    config = router_config(path, environ=env)
    assert config.metrics_token_env == "LLMROUTER_MY_RECORD"
    # The gateway reads the same file: the router's variables are no typos there either.
    gateway_config(path, env | {"LLMROUTER_GATEWAY_AUTH_ENABLED": "false"})
    # Not named by anything: refused.
    with pytest.raises(ConfigError, match=r"^LLMROUTER_OPENAI_KEY: unknown variable"):
        router_config(path, environ=env | {"LLMROUTER_OPENAI_KEY": "sk-test"})


def test_each_service_checks_its_own_section() -> None:
    env = {"LLMROUTER_GATEWAY_PROT": "1"}
    # The router leaves the gateway's variables to the gateway, which refuses this one.
    assert router_config(None, environ=env).port == 50051
    with pytest.raises(ConfigError, match="did you mean LLMROUTER_GATEWAY_PORT"):
        gateway_config(None, env)


@pytest.mark.parametrize(
    ("toml", "load", "message"),
    [
        ("[router]\nprot = 1\n", router_config, "router.prot: unknown key (did you mean port?)"),
        (
            "[router.retry]\nattempts_per_modle = 1\n",
            router_config,
            "router.retry.attempts_per_modle: unknown key (did you mean attempts_per_model?)",
        ),
        (
            "[gateway.metrics_tls]\nca = 'x'\n",
            gateway_config,
            "gateway.metrics_tls.ca: unknown key (did you mean ca_file?)",
        ),
        (
            "[metrics]\nxyzzy = 1\n",
            metrics_config,
            "metrics.xyzzy: unknown key (known keys: auth_token_envs, auth_tokens, ",
        ),
    ],
)
def test_unknown_file_keys(tmp_path: Path, toml: str, load: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, toml), environ={})
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[routr]\nport = 1\n",
            "routr: unknown section (did you mean [router]? "
            "sections: gateway, metrics, router, state)",
        ),
        (
            "port = 1\n",
            "port: unknown top-level key; keys belong in a section: "
            "[gateway], [metrics], [router], [state]",
        ),
    ],
)
def test_unknown_sections(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path, toml)
    for load in (router_config, metrics_config, gateway_config):
        with pytest.raises(ConfigError) as info:
            load(path, environ={})
        assert str(info.value) == message


def test_a_service_process_stops_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    env |= {"LLMROUTER_ROUTER_RETRY_ATTEMPTS": "3", "PYTHONPATH": str(ROOT)}
    for command in (["-m", "router_svc"], ["-m", "llmrouter", "serve", "all"]):
        proc = subprocess.run(
            [sys.executable, *command],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, proc.stderr
        assert (
            proc.stderr.strip()
            .splitlines()[-1]
            .endswith(
                "LLMROUTER_ROUTER_RETRY_ATTEMPTS: unknown variable "
                "(did you mean LLMROUTER_ROUTER_RETRY_ATTEMPTS_PER_MODEL?)"
            )
        ), proc.stderr
        assert "Traceback" not in proc.stderr


def test_no_two_keys_share_a_variable() -> None:
    for section, (cls, shortcuts) in SCHEMAS.items():
        keys = env_keys(cls, section)  # raises TypeError on a clash
        for variable, target in shortcuts.items():
            # A shortcut stands in for a list of tables, which has no variable of its own.
            assert keys[f"LLMROUTER_{section.upper()}_{target.upper()}"].kind == "file-only"
            assert variable not in keys or keys[variable].path == (target,)
        for name, entry in keys.items():
            assert name == "LLMROUTER_" + entry.key.replace(".", "_").upper()


def _mentioned() -> dict[str, set[Path]]:
    """Every LLMROUTER_* name written anywhere in the repository, with where."""
    skip = {".git", ".venv", ".lock-venv", ".bench-peers-venv", "node_modules", "data"}
    # This file's names are the check's inputs: most are refused on purpose.
    this = Path(__file__).resolve()
    found: dict[str, set[Path]] = {}
    pattern = re.compile(r"LLMROUTER_[A-Z0-9_]+")
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path == this or not path.is_file() or parts & skip:
            continue
        if any(p.endswith("_cache") for p in parts):
            continue
        if path.suffix in {".png", ".jpg", ".sqlite3", ".pyc", ".whl", ".gz"}:
            continue
        text = path.read_text(errors="ignore")
        for name in pattern.findall(text):
            # "LLMROUTER_ROUTER_*" and f"LLMROUTER_{...}" stand for families, not variables.
            if not name.endswith("_"):
                found.setdefault(name, set()).add(path.relative_to(ROOT))
    return found


def test_every_variable_the_repository_mentions_is_accepted() -> None:
    """A variable set by the Makefile, compose, CI, a bench or a test (or shown in the README)
    that no service accepts would stop the stack; add it to ALLOWED_VARIABLES or make it a key.
    """
    mentioned = _mentioned()
    assert {"LLMROUTER_CONFIG", "LLMROUTER_SOAK", "LLMROUTER_ROUTER_PORT"} <= set(mentioned)
    refused = {}
    for name, where in sorted(mentioned.items()):
        if name in WRONG_ON_PURPOSE:
            continue
        for section, (cls, shortcuts) in SCHEMAS.items():
            problems = unknown_variables(
                cls, section, {name: "1"}, document={}, shortcuts=shortcuts
            )
            if problems:
                refused[name] = (section, problems, sorted(map(str, where)))
    assert not refused, refused


def test_the_deliberate_typos_are_refused() -> None:
    for name, suggestion in WRONG_ON_PURPOSE.items():
        # A section's variables are checked by its service; the others' by every service.
        owners = [s for s in SCHEMAS if name.startswith(f"LLMROUTER_{s.upper()}_")] or SCHEMAS
        for section in owners:
            cls, shortcuts = SCHEMAS[section]
            problems = unknown_variables(
                cls, section, {name: "1"}, document={}, shortcuts=shortcuts
            )
            assert problems == [f"{name}: unknown variable (did you mean {suggestion}?)"]


def test_the_tokens_serve_all_hands_out_are_allowed() -> None:
    assert set(LOCAL_TOKENS.values()) <= set(ALLOWED_VARIABLES)
