"""``llmrouter eval-router``: routing policies evaluated offline on a labelled set.

Reads graded answers (JSONL, :mod:`llmrouter.learned.labelled`), embeds the prompts (vectors
given in the rows, else the local hashing embedder, else ``--embeddings-url``: any
OpenAI-compatible ``/v1/embeddings``, such as our gateway's), prices answers that carry no
``cost_usd`` (the router's own price resolution over ``--config``'s models, or ``--price``;
tokens estimated from the prompt and ``--completion-tokens``), then reports every policy of
:mod:`llmrouter.learned.evaluate` as a table (text, JSON or CSV), a cost-quality chart and
report files. Exit status: 0 done, 2 bad flags, config or rows (each named), 1 an embeddings
endpoint failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmrouter.config import ConfigError
from llmrouter.learned.evaluate import DEFAULT_THRESHOLDS, Report, evaluate
from llmrouter.learned.hashing import DEFAULT_DIMENSIONS, hashed_embedding
from llmrouter.learned.labelled import (
    LabelledSet,
    Pricer,
    labelled_set,
    read_prompts,
    read_rows,
)
from llmrouter.token_estimate import DEFAULT_COMPLETION_TOKENS, prompt_tokens

from .eval_embeddings import EmbeddingsError, remote_embeddings
from .eval_report import write_outputs

__all__ = ["add_parser", "parse_thresholds", "run_eval_router"]

_PROG = "llmrouter eval-router"
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
        help=f"completion tokens assumed when pricing an answer (default "
        f"{DEFAULT_COMPLETION_TOKENS})",
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
    p.add_argument("--embedding-model", default="", help="model for --embeddings-url")
    p.add_argument(
        "--api-key-env",
        default="",
        help=f"variable holding the API key for --embeddings-url (default: {DEFAULT_KEY_ENV} "
        "when set, else no key)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="inputs per embeddings call")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per embeddings call")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.add_argument("--chart", default="", help="write the cost-quality chart (PNG) here")
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
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 6) for i in range(max(count, 0))]
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--thresholds: expected START:STOP:STEP or a comma list, got {text!r}"
        ) from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"--thresholds: expected values in [0, 1], got {text!r}")
    return tuple(sorted(set(values)))


def _prices(flags: Sequence[str]) -> dict[str, tuple[float, float]]:
    prices: dict[str, tuple[float, float]] = {}
    for flag in flags:
        model, _, pair = flag.partition("=")
        try:
            price_in, price_out = (float(x) for x in pair.split(","))
        except ValueError:
            raise ValueError(
                f"--price: expected MODEL=IN,OUT (USD per million), got {flag!r}"
            ) from None
        if not model.strip() or min(price_in, price_out) < 0:
            raise ValueError(f"--price: expected MODEL=IN,OUT with prices >= 0, got {flag!r}")
        prices[model.strip()] = (price_in, price_out)
    return prices


class _Configured:
    """What ``--config`` tells the harness: models' prices (as the router resolves them) and
    its category chains."""

    def __init__(self, path: str) -> None:
        from router_svc.config import load_config
        from router_svc.providers import create_provider
        from router_svc.registry import resolve_prices
        from router_svc.routing.setup import categories_of

        config = load_config(path)
        providers = {p.name: create_provider(p) for p in config.providers}
        # Name or alias -> the model's name, and the name's (input, output) prices; a model
        # whose price is known nowhere (resolve_prices' ``unknown``) has none.
        self.canonical: dict[str, str] = {}
        self.prices: dict[str, tuple[float, float]] = {}
        for model in config.models:
            if model.embedding:
                continue
            for name in (model.name, *model.aliases):
                self.canonical[name] = model.name
            resolved = resolve_prices(model, providers[model.provider])
            if not resolved.unknown:
                self.prices[model.name] = (resolved.input, resolved.output)
        self.chains = {c.name: c.chain for c in categories_of(config)}
        self.default_chain = config.default_chain

    def price(self, model: str) -> tuple[float, float] | None:
        return self.prices.get(self.canonical.get(model, ""))

    def chain_first(
        self, labelled: Sequence[str], categories: set[str]
    ) -> tuple[Callable[[str], str] | None, str]:
        """Category -> the labelled model its chain starts with, or None and why not."""
        by_canonical = {self.canonical.get(m, m): m for m in labelled}
        firsts: dict[str, str] = {}
        for category in sorted(categories):
            chain = self.chains.get(category, self.default_chain)
            first = chain[0] if chain else ""
            model = by_canonical.get(self.canonical.get(first, first))
            if model is None:
                where = f"category {category!r}" if category in self.chains else "default_chain"
                return None, (
                    f"static:config not reported: the chain of {where} starts with "
                    f"{first!r}, which the set does not grade"
                )
            firsts[category] = model
        return firsts.__getitem__, ""


def _pricer(
    flags: dict[str, tuple[float, float]], configured: _Configured | None, completion: int
) -> Pricer:
    def price(model: str, prompt: str) -> float | None:
        found = flags.get(model) or (configured.price(model) if configured else None)
        if found is None:
            return None
        return (prompt_tokens(len(prompt), 1) * found[0] + completion * found[1]) / 1e6

    return price


def _embed(data: LabelledSet, args: argparse.Namespace) -> tuple[npt.NDArray[np.float32], str]:
    """The prompts' vectors and how they were made."""
    if data.embeddings is not None:
        return data.embeddings, f"given in the rows ({data.embeddings.shape[1]} dimensions)"
    if not args.embeddings_url:
        vectors = np.array([hashed_embedding(p) for p in data.prompts], dtype=np.float32)
        return vectors, f"local hashing embedder ({DEFAULT_DIMENSIONS} dimensions)"
    env = args.api_key_env or (DEFAULT_KEY_ENV if os.environ.get(DEFAULT_KEY_ENV) else "")
    key = os.environ.get(env, "").strip() if env else ""
    if env and not key:
        raise ValueError(f"--api-key-env: environment variable {env} is not set or empty")
    vectors = remote_embeddings(
        args.embeddings_url,
        args.embedding_model,
        list(data.prompts),
        api_key=key,
        batch_size=args.batch_size,
        timeout_s=args.timeout,
    )
    return (
        vectors,
        f"{args.embedding_model} at {args.embeddings_url} ({vectors.shape[1]} dimensions)",
    )


def run_eval_router(args: argparse.Namespace) -> int:
    """Run the evaluation the flags describe; returns the exit status."""
    try:
        report, chart = _evaluate(args)
    except (ValueError, ConfigError, OSError) as exc:
        # LabelledSetError is a ValueError: one line per bad row.
        for line in str(exc).splitlines():
            print(f"{_PROG}: {line}", file=sys.stderr)
        return 2
    except EmbeddingsError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 1
    try:
        write_outputs(report, args.format, sys.stdout, chart=chart, out_dir=args.out)
    except OSError as exc:
        print(f"{_PROG}: cannot write the report: {exc}", file=sys.stderr)
        return 2
    return 0


def _evaluate(args: argparse.Namespace) -> tuple[Report, str]:
    if args.embeddings_url and not args.embedding_model:
        raise ValueError("--embedding-model: required with --embeddings-url")
    if args.completion_tokens < 0 or args.k < 1 or args.batch_size < 1:
        raise ValueError("--completion-tokens must be >= 0, --k and --batch-size >= 1")
    thresholds = parse_thresholds(args.thresholds)
    flags = _prices(args.price)
    configured = _Configured(args.config) if args.config else None
    prompts = read_prompts(Path(args.prompts)) if args.prompts else None
    read = read_rows(Path(args.labelled), prompts)
    if read.unmatched:
        print(
            f"{_PROG}: {read.unmatched} rows skipped: their request_id is not in {args.prompts}",
            file=sys.stderr,
        )
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    data = labelled_set(
        read.rows,
        _pricer(flags, configured, args.completion_tokens),
        source=args.labelled,
        models=models,
    )
    chain_first = None
    if configured is not None:
        chain_first, why = configured.chain_first(data.models, set(data.categories))
        if why:
            print(f"{_PROG}: {why}", file=sys.stderr)
    vectors, embedder = _embed(data, args)
    report = evaluate(
        data,
        vectors,
        folds=args.folds,
        seed=args.seed,
        thresholds=thresholds or DEFAULT_THRESHOLDS,
        k=args.k,
        chain_first=chain_first,
        embedder=embedder,
        source=args.labelled,
    )
    return report, args.chart
