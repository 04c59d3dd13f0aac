"""Router config: defaults, TOML, environment overrides and one-line errors naming the key."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from llmrouter.config import ConfigError
from router_svc.config import RouterConfig, load_config
from router_svc.policies import BreakerPolicy, RetryPolicy


def test_defaults_need_no_file(clean_env: None) -> None:
    config = load_config(None)
    assert config == RouterConfig()
    assert config.port == 50051
    assert [m.name for m in config.models] == ["sim-small", "sim-large", "sim-embed"]


def test_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[router]
port = 6000
default_chain = ["fast"]
[[router.providers]]
name = "sim"
kind = "simulated"
local = true
[[router.models]]
name = "fast"
provider = "sim"
aliases = ["quick"]
"""
    )
    monkeypatch.setenv("LLMROUTER_ROUTER_PORT", "6001")
    monkeypatch.setenv("LLMROUTER_ROUTER_DEFAULT_CHAIN", "fast, quick")
    config = load_config(str(path))
    assert config.port == 6001
    assert config.default_chain == ("fast", "quick")
    assert config.models[0].aliases == ("quick",)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[router]\nprot = 1\n", "router.prot: unknown key"),
        ('[router]\nport = "x"\n', "router.port: expected an integer, got 'x'"),
        (
            "[[router.models]]\nprovider = 'simulated'\n",
            "router.models[0].name: missing required value",
        ),
        (
            "[[router.providers]]\nname = 'a'\nkind = 'grpc'\n",
            "router.providers[0].kind: unknown provider kind 'grpc'",
        ),
        (
            "[[router.providers]]\nname = 'v'\nkind = 'openai'\nextra_body_keys = ['top_k', 'n']\n",
            "router.providers[0].extra_body_keys: 'n' is set by the router",
        ),
        (
            "[router]\ndefault_chain = ['nope']\n",
            "router.default_chain[0]: unknown model 'nope'",
        ),
        (
            "[router.retry]\nstream_idle_timeout_s = -1\n",
            "router.retry.stream_idle_timeout_s: must not be negative",
        ),
        (
            "[router]\n[[router.models]]\nname = 'm'\nprovider = 'simulated'\n"
            "continuation = 'yes'\n",
            "router.models[0].continuation: expected true or false",
        ),
        (
            "[router]\noutbox_durable_timeout_ms = -1\n",
            "router.outbox_durable_timeout_ms: must not be negative, got -1",
        ),
        (
            "[router]\nadmin_database_url = 'mysql://root@db/admin'\n",
            "router.admin_database_url: expected a postgresql:// or sqlite:/// URL, got scheme "
            "'mysql'",
        ),
        (
            "[router]\nadmin_resync_interval_s = 0\n",
            "router.admin_resync_interval_s: expected a positive number of seconds",
        ),
        (
            "[router.state]\nbackend = 'redis'\n",
            "router.state: shared state is the top-level [state] section",
        ),
        ("[state]\nbackend = 'memcached'\n", "state.backend: expected one of embedded, redis"),
    ],
)
def test_invalid_config_names_the_key(
    tmp_path: Path, toml: str, message: str, clean_env: None
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value).startswith(message)


def test_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    monkeypatch.setenv("LLMROUTER_ROUTER_PORT", "eighty")
    with pytest.raises(
        ConfigError, match="LLMROUTER_ROUTER_PORT: expected an integer, got 'eighty'"
    ):
        load_config(None)


def test_admin_store_and_shared_state_settings(tmp_path: Path, clean_env: None) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[router]\nstate_path = 'var/state.json'\n[state]\nbackend = 'redis'\n"
        "redis_url = 'redis://cache:6379/2'\n"
    )
    config = load_config(str(path))
    # Without a database URL the admin store is a SQLite file beside the old state file.
    assert config.admin_url == "sqlite:///var/state.sqlite3"
    assert (config.state.backend, config.state.redis_url) == ("redis", "redis://cache:6379/2")
    url = "postgresql://router@db/llmrouter"
    config = load_config(str(path), environ={"LLMROUTER_ROUTER_ADMIN_DATABASE_URL": url})
    assert config.admin_url == url


def test_process_exits_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[router]\nprot = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "router_svc", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("router: router.prot: unknown key")


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "router_svc", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                "PATH": "/usr/bin:/bin",
                "LLMROUTER_ROUTER_OUTBOX_PATH": str(tmp_path / "o.db"),
                "LLMROUTER_ROUTER_STATE_PATH": str(tmp_path / "state.json"),
            },
            cwd=tmp_path,
        )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"router: cannot listen on 127.0.0.1:{port}: address already in use" in proc.stderr


def test_which_models_continue_a_stream(tmp_path: Path, clean_env: None) -> None:
    from router_svc.providers import create_provider
    from router_svc.registry import Registry

    path = tmp_path / "c.toml"
    path.write_text(
        """
[router]
default_chain = ["claude"]
allowed_private_hosts = ["127.0.0.1"]
[[router.providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:9"
[[router.providers]]
name = "ollama"
kind = "ollama"
base_url = "http://127.0.0.1:9"
[[router.providers]]
name = "vllm"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[router.models]]
name = "claude"
provider = "anthropic"
[[router.models]]
name = "claude-no-prefill"
provider = "anthropic"
continuation = false
[[router.models]]
name = "llama"
provider = "ollama"
[[router.models]]
name = "gpt"
provider = "vllm"
[[router.models]]
name = "qwen"
provider = "vllm"
continuation = true
"""
    )
    config = load_config(str(path))
    providers = {p.name: create_provider(p) for p in config.providers}
    registry = Registry(config.models, providers)
    assert {e.name: e.can_continue for e in registry.entries()} == {
        "claude": True,
        "claude-no-prefill": False,
        "llama": True,
        "gpt": False,
        "qwen": True,
    }


def _float_keys(cls: type) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [
        f.name
        for f in dataclasses.fields(cls)
        if float in (hints[f.name], *typing.get_args(hints[f.name]))
    ]


@pytest.mark.parametrize("spelling", ["inf", "nan", "+inf", "-inf"])
def test_every_timing_key_refuses_inf_and_nan(
    tmp_path: Path, spelling: str, clean_env: None
) -> None:
    # An infinite max_ejection_s overflowed the breaker on its first ejection (INTERNAL to the
    # client, the usage record lost); a nan timeout never fires.
    tables = {
        "router": _float_keys(RouterConfig),
        "router.retry": _float_keys(RetryPolicy),
        "router.breaker": _float_keys(BreakerPolicy),
    }
    assert {"outbox_durable_timeout_ms", "outbox_flush_interval_ms"} <= set(tables["router"])
    assert {"stream_idle_timeout_s", "hedge_after_s"} <= set(tables["router.retry"])
    assert {"max_ejection_s", "cooldown_s"} <= set(tables["router.breaker"])
    for table, keys in tables.items():
        for key in keys:
            path = tmp_path / "c.toml"
            path.write_text(f"[{table}]\n{key} = {spelling}\n")
            with pytest.raises(ConfigError) as info:
                load_config(str(path))
            assert str(info.value).startswith(f"{table}.{key}: must be a finite number, got ")


def test_environment_inf_and_nan_are_refused_too(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    monkeypatch.setenv("LLMROUTER_ROUTER_OUTBOX_DURABLE_TIMEOUT_MS", "nan")
    with pytest.raises(ConfigError, match="outbox_durable_timeout_ms: must be a finite number"):
        load_config(None)


def test_policies_built_in_code_refuse_inf_too() -> None:
    with pytest.raises(ConfigError, match="max_ejection_s: must be a finite number, got inf"):
        BreakerPolicy(max_ejection_s=math.inf)
    with pytest.raises(ConfigError, match="stream_idle_timeout_s: must be a finite number"):
        RetryPolicy(stream_idle_timeout_s=math.nan)


_ANTHROPIC = """
[[router.providers]]
name = "anth"
kind = "anthropic"
base_url = "https://api.anthropic.com"
[[router.providers]]
name = "simulated"
kind = "simulated"
[[router.models]]
name = "chat"
provider = "simulated"
"""


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            '[[router.models]]\nname = "e"\nprovider = "anth"\nembedding = true\n',
            "router.models[1].embedding: provider kind 'anthropic' has no embeddings API",
        ),
        (
            '[[router.models]]\nname = "e"\nprovider = "simulated"\ndimensions = 8\n',
            "router.models[1].dimensions: only for embedding models",
        ),
        (
            '[[router.models]]\nname = "e"\nprovider = "simulated"\nembedding = true\n'
            "max_inputs_per_request = -1\n",
            "router.models[1].max_inputs_per_request: must be 0",
        ),
        (
            '[[router.models]]\nname = "e"\nprovider = "simulated"\nembedding = true\n'
            "tools = true\n",
            "router.models[1].embedding: an embedding model serves no chat",
        ),
        (
            '[router]\ndefault_chain = ["e"]\n[[router.models]]\nname = "e"\n'
            'provider = "simulated"\nembedding = true\n',
            "router.default_chain[0]: 'e' is an embedding model",
        ),
    ],
)
def test_embedding_models_are_checked_at_start(
    tmp_path: Path, models: str, message: str, clean_env: None
) -> None:
    path = tmp_path / "c.toml"
    head, _, rest = models.rpartition("[[router.models]]")
    path.write_text(head + _ANTHROPIC + "[[router.models]]" + rest)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("percent", [-1.0, 100.5])
def test_a_budget_lease_percent_outside_0_to_100_is_refused_naming_the_key(
    percent: float,
) -> None:
    with pytest.raises(ConfigError, match="budget_lease_percent: expected 0 to 100"):
        dataclasses.replace(RouterConfig(), budget_lease_percent=percent)
