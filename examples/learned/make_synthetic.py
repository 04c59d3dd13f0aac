"""Write the synthetic labelled set ``llmrouter eval-router`` is tested and shown with.

    python examples/learned/make_synthetic.py > examples/learned/synthetic.jsonl

Made up by the project, not measured: three models (``cheap``, ``mid``, ``strong``, priced
like a small, a mid-size and a frontier model) answer prompts of four categories. Each
category holds two kinds of prompt that word themselves differently, and the models' mean
scores differ by kind, not only by category: the cheap model is as good as the others on
routine prompts (short scripts, arithmetic, emails, small talk), ``mid`` writes stories best,
only ``strong`` solves systems design, proofs and troubleshooting. So a router that reads the
prompt can send most prompts to a cheaper model and the hard ones to ``strong``, while a
static chain per category must pick one model for both kinds. Scores are a kind's mean plus
Gaussian noise (sd 0.08), clipped to [0, 1]; costs are the models' prices times the prompt's
estimated tokens (``llmrouter.token_estimate``) and a completion length that varies by kind
and model. Deterministic: the same seed writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import TextIO

# USD per million tokens (input, output).
PRICES = {"cheap": (0.10, 0.40), "mid": (0.60, 2.40), "strong": (3.00, 15.00)}
# Completion length relative to the kind's: stronger models write more.
VERBOSITY = {"cheap": 0.8, "mid": 1.0, "strong": 1.3}
NOISE = 0.08
PER_KIND = 20

# category -> kind -> (mean score of cheap, mid, strong; completion tokens; template; slots).
# A kind's prompts share its template's words (as real prompts of one kind share vocabulary);
# the slots and an optional closing sentence vary them.
KINDS: dict[str, dict[str, tuple[tuple[float, float, float], int, str, list[list[str]]]]] = {
    "code": {
        "script": (
            (0.88, 0.93, 0.90),
            180,
            "Write a short Python function that {0} {1}.{2}",
            [
                ["reverses", "sorts", "counts the words in", "removes duplicates from"],
                ["a list of names", "a string", "a CSV column", "a dictionary of scores"],
                ["", " Add a docstring.", " Keep it to a few lines.", " Use only the stdlib."],
            ],
        ),
        "systems": (
            (0.20, 0.45, 0.90),
            700,
            "Design a lock-free concurrent {0} in {1} that stays linearizable under {2}.",
            [
                ["hash map", "ring buffer", "work-stealing scheduler", "skip list"],
                ["Rust", "C++", "Go", "C"],
                ["contention", "many writers", "weak memory ordering", "thread preemption"],
            ],
        ),
    },
    "math": {
        "arithmetic": (
            (0.93, 0.92, 0.90),
            60,
            "Compute {0} {1} {2}.",
            [
                ["12", "35", "48", "250", "7"],
                ["times", "plus", "minus", "percent of"],
                ["80", "1200", "64", "999", "15"],
            ],
        ),
        "proof": (
            (0.15, 0.40, 0.88),
            600,
            "Prove rigorously that {0} {1}.{2}",
            [
                ["every bounded monotone sequence", "the set of primes", "a compact subset"],
                ["converges", "is infinite", "of a metric space is closed and bounded"],
                ["", " State every lemma.", " Argue by contradiction.", " Use induction."],
            ],
        ),
    },
    "writing": {
        "email": (
            (0.90, 0.88, 0.84),
            150,
            "Draft a short polite email to {0} about {1}.{2}",
            [
                ["my landlord", "the team", "a customer", "our supplier"],
                ["a late payment", "next week's meeting", "a delayed order", "the holidays"],
                ["", " Keep it brief.", " Sign it from Sam."],
            ],
        ),
        "story": (
            (0.45, 0.86, 0.80),
            900,
            "Write an imaginative short story about {0} who discovers {1}.{2}",
            [
                ["a lighthouse keeper", "an old clockmaker", "a lonely robot", "a river spirit"],
                ["a forgotten map", "a door in the sea", "the last winter", "a talking crow"],
                ["", " Give it a twist ending.", " Make it vivid and original."],
            ],
        ),
    },
    "conversation": {
        "smalltalk": (
            (0.92, 0.90, 0.86),
            80,
            "Hi! How is your {0} going? Mine is {1}.{2}",
            [
                ["day", "weekend", "morning", "week"],
                ["great", "quiet", "busy", "relaxing"],
                ["", " Just saying hello.", " Talk soon!"],
            ],
        ),
        "troubleshooting": (
            (0.50, 0.78, 0.90),
            450,
            "Our {0} keeps failing with {1} after the upgrade: diagnose the root cause.{2}",
            [
                ["Kubernetes ingress", "PostgreSQL replica", "Kafka consumer", "nginx proxy"],
                ["connection resets", "timeouts", "out-of-memory kills", "checksum errors"],
                ["", " It happens under load.", " Walk me through it step by step."],
            ],
        ),
    },
}


def estimated_prompt_tokens(text: str) -> int:
    """``llmrouter.token_estimate.prompt_tokens`` of one message (kept here so the script
    runs without the package installed): a token per four characters, four of framing."""
    return -(-len(text) // 4) + 4


def write(out: TextIO, seed: int) -> int:
    """Write the set to ``out``; returns the number of rows."""
    rng = random.Random(seed)
    prompts: list[tuple[str, str, str]] = []
    for category, kinds in KINDS.items():
        for kind, (_, _, template, slots) in kinds.items():
            seen: set[str] = set()
            while len(seen) < PER_KIND:
                text = template.format(*(rng.choice(s) for s in slots))
                if text not in seen:
                    seen.add(text)
                    prompts.append((category, kind, text))
    rng.shuffle(prompts)
    rows = 0
    for number, (category, kind, text) in enumerate(prompts, start=1):
        means, completion, _, _ = KINDS[category][kind]
        for model, mean in zip(PRICES, means, strict=True):
            score = min(max(mean + rng.gauss(0.0, NOISE), 0.0), 1.0)
            tokens = max(1, round(completion * VERBOSITY[model] * rng.uniform(0.7, 1.3)))
            price_in, price_out = PRICES[model]
            cost = (estimated_prompt_tokens(text) * price_in + tokens * price_out) / 1e6
            row = {
                "id": f"p{number:03d}",
                "prompt": text,
                "category": category,
                "model": model,
                "score": round(score, 3),
                "cost_usd": round(cost, 9),
            }
            out.write(json.dumps(row) + "\n")
            rows += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point: the set on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=22, help="random seed (default 22)")
    args = parser.parse_args(argv)
    write(sys.stdout, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
