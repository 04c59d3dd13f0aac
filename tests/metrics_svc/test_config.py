"""MetricsConfig: defaults, the [metrics] TOML section, environment overrides, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmrouter.config import ConfigError
from metrics_svc.config import MetricsConfig, load_config

pytestmark = pytest.mark.usefixtures("clean_env")


def test_no_file_means_defaults() -> None:
    assert load_config(None) == MetricsConfig()


def test_file_values_and_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(
        '[metrics]\nport = 6001\nreference_model = "gpt-4.1"\n'
        "reference_input_price_per_million = 2\n"
    )
    monkeypatch.setenv("LLMROUTER_METRICS_PORT", "6002")

    config = load_config(str(path))

    assert (config.port, config.reference_model) == (6002, "gpt-4.1")
    assert config.reference_input_price_per_million == 2.0


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("port = 70000", "metrics.port"),
        ('port = "abc"', "metrics.port"),
        ("reference_output_price_per_million = -1", "metrics.reference_output_price_per_million"),
        (
            "reference_cache_read_price_per_million = -2",
            "metrics.reference_cache_read_price_per_million",
        ),
        (
            'reference_cache_write_price_per_million = "x"',
            "metrics.reference_cache_write_price_per_million",
        ),
        ("shutdown_grace_s = -0.5", "metrics.shutdown_grace_s"),
        ('database_url = ""', "metrics.database_url"),
        ("colour = 1", "metrics.colour"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(f"[metrics]\n{body}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(str(path))

    assert str(caught.value).startswith(key)
