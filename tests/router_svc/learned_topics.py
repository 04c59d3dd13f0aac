"""Two topics for learned-routing tests: a cheap model good at translation (topic A) and bad at
proofs (topic B), a strong expensive model good at both; as a labelled set in JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from router_svc.config import CategoryConfig, ModelConfig, ProviderConfig

# Prompts of the labelled set, and others of the same topics for the requests.
TOPIC_A = [
    f"Translate into French: {s}"
    for s in (
        "the cat sleeps on the warm mat",
        "my sister reads a book every evening",
        "we are going to the market tomorrow",
        "the weather is cold and rainy today",
        "please close the door behind you",
        "the children play in the garden",
        "I would like a cup of coffee",
        "the train leaves at eight in the morning",
    )
]
TOPIC_B = [
    f"Prove that {s}"
    for s in (
        "there are infinitely many prime numbers",
        "the square root of two is irrational",
        "every bounded monotone sequence of real numbers converges",
        "the sum of the angles of a triangle is two right angles",
        "a group of prime order is cyclic",
        "the harmonic series diverges",
        "every tree with n vertices has n minus 1 edges",
        "there is no largest prime number",
    )
]
ASK_A = "Translate into French: my brother plays the guitar at night"
ASK_B = "Prove that the product of two odd numbers is odd"

# The simulated provider, priced as a remote one: the strong model costs 50x the cheap one.
PROVIDERS = (ProviderConfig(name="sim", kind="simulated", latency_ms=0.0),)
CHEAP = ModelConfig(
    name="cheap",
    provider="sim",
    input_price_per_million=0.1,
    output_price_per_million=0.4,
    context_window=100_000,
    quality=0.5,
)
STRONG = ModelConfig(
    name="strong",
    provider="sim",
    input_price_per_million=5.0,
    output_price_per_million=20.0,
    context_window=100_000,
    quality=0.9,
)
EMBED = ModelConfig(
    name="sim-embed",
    provider="sim",
    input_price_per_million=0.02,
    output_price_per_million=0.0,
    embedding=True,
    dimensions=256,
)
MODELS = (CHEAP, STRONG, EMBED)
# Chain order puts the strong model first: a quality bound reorders it.
GENERAL = CategoryConfig(name="general", chain=("strong", "cheap"))


def labelled_rows() -> list[dict[str, Any]]:
    """The cheap model scores 0.9 on topic A and 0.1 on B; the strong one 0.95 on both."""
    rows = []
    for prompt in TOPIC_A:
        rows += [
            {"prompt": prompt, "model": "cheap", "score": 0.9},
            {"prompt": prompt, "model": "strong", "score": 0.95},
        ]
    for prompt in TOPIC_B:
        rows += [
            {"prompt": prompt, "model": "cheap", "score": 0.1},
            {"prompt": prompt, "model": "strong", "score": 0.95},
        ]
    return rows


def write_labelled_set(path: Path, extra_lines: tuple[str, ...] = ()) -> Path:
    """The labelled set as JSONL at ``path`` (plus ``extra_lines`` at the end)."""
    lines = [json.dumps(row) for row in labelled_rows()]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path
