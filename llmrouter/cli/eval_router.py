"""``llmrouter eval-router``: routing policies evaluated offline on a labelled set.

Reads graded answers (JSONL, :mod:`llmrouter.learned.labelled`), embeds the prompts (vectors
given in the rows, else the local hashing embedder, else ``--embeddings-url``: any
OpenAI-compatible ``/v1/embeddings``, such as our gateway's), prices answers that carry no
``cost_usd`` (the router's own price resolution over ``--config``'s models, or ``--price``;
tokens estimated from the prompt and ``--completion-tokens``), then reports every policy of
:mod:`llmrouter.learned.evaluate` as a table (text, JSON or CSV), a cost-quality chart and
report files (:mod:`.eval_run` does the work). Exit status: 0 done, 2 bad flags, config or
rows (each named), 1 an embeddings endpoint failed.

This module only defines the command: every ``llmrouter`` command builds its parser, so
numpy, matplotlib and the services load only when ``eval-router`` runs.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from llmrouter.token_estimate import DEFAULT_COMPLETION_TOKENS

__all__ = ["DEFAULT_KEY_ENV", "add_parser", "parse_thresholds", "run_eval_router"]

DEFAULT_KEY_ENV = "LLMROUTER_KEY"


def add_parser(sub: Any, config_help: str) -> None:
    """The ``eval-router`` subcommand of ``llmrouter``."""
    p = sub.add_parser(
        "eval-router",
        help="evaluate routing policies offline on a labelled set (JSONL)",
        description="Cost and quality of the cheapest model, each single model, static "
        "chains and the learned router at several quality thresholds, on graded answers.",
    )
    p.add_argument("labelled", help="JSONL: one {prompt, model, score} object per line")
    p.add_argument("--config", help=config_help + "; its models' prices and category chains")
    p.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN,OUT",
        help="USD per million input and output tokens of a model (repeatable; beats --config)",
    )
    p.add_argument(
        "--completion-tokens",
        type=int,
        default=DEFAULT_COMPLETION_TOKENS,
        help="completion tokens assumed when pricing an answer "
        f"(default {DEFAULT_COMPLETION_TOKENS})",
    )
    p.add_argument(
        "--prompts",
        default="",
        help="JSONL {request_id, prompt[, id]}: the prompts "
        "of rows that carry a request_id instead of a prompt (feedback export)",
    )
    p.add_argument("--models", default="", help="comma-separated: only these models")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle (default 0)")
    p.add_argument(
        "--thresholds",
        default="0.5:0.95:0.05",
        help="quality bounds of the learned policy: START:STOP:STEP or a comma list "
        "(default 0.5:0.95:0.05)",
    )
    p.add_argument("--k", type=int, default=16, help="neighbours per model (default 16)")
    p.add_argument(
        "--embeddings-url",
        default="",
        help="OpenAI-compatible base URL, e.g. "
        "http://127.0.0.1:8080/v1 (default: the local hashing embedder)",
    )
    p.add_argument(
        "--embedding-model", default="", help="model for --embeddings-url (required with it)"
    )
    p.add_argument(
        "--api-key-env",
        default="",
        help=f"variable holding the API key for --embeddings-url (default: {DEFAULT_KEY_ENV} "
        "when set, else no key)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="inputs per embeddings call")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per embeddings call")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.add_argument(
        "--chart",
        default="",
        help="write the cost-quality chart here, in the format of its extension "
        "(.png, .svg, .pdf, .jpg, ...; none: PNG)",
    )
    p.add_argument(
        "--out",
        default="",
        help="directory for report.txt, report.json, policies.csv and cost_quality.png",
    )


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``START:STOP:STEP`` (both ends included) or ``a,b,c``, each in [0, 1], sorted."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0:
                raise ValueError
            if start > stop:
                raise ValueError(
                    f"--thresholds: START {start:g} is above STOP {stop:g} in {text!r} "
                    "(START:STOP:STEP counts up)"
                )
            count = math.floor((stop - start) / step + 1e-9) + 1
            values = [round(start + i * step, 6) for i in range(max(count, 0))]
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        if str(exc).startswith("--thresholds:"):
            raise
        raise ValueError(
            f"--thresholds: expected START:STOP:STEP or a comma list, got {text!r}"
        ) from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"--thresholds: expected values in [0, 1], got {text!r}")
    return tuple(sorted(set(values)))


def run_eval_router(args: argparse.Namespace) -> int:
    """Run the evaluation the flags describe; returns the exit status."""
    # One BLAS thread unless the user chose: the predictor's matrix-vector products gain
    # nothing from threads, and OpenBLAS's spinning threads on a busy machine made a
    # 4000-prompt evaluation take 106 s instead of 14 s (2 shared cores). Set before numpy
    # loads, which reads it once.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .eval_run import run

    return run(args)
