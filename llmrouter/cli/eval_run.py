"""The work of ``llmrouter eval-router`` (:mod:`.eval_router` defines the command): read and
price the labelled set, embed its prompts, evaluate, write the outputs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmrouter.config import ConfigError
from llmrouter.learned.evaluate import Report, evaluate
from llmrouter.learned.hashing import DEFAULT_DIMENSIONS, hashed_embedding
from llmrouter.learned.labelled import (
    LabelledSet,
    Pricer,
    labelled_set,
    read_prompts,
    read_rows,
)
from llmrouter.token_estimate import prompt_tokens
from llmrouter.wording import counted

from .eval_embeddings import EmbeddingsError, remote_embeddings
from .eval_report import write_outputs
from .eval_router import DEFAULT_KEY_ENV, parse_thresholds

__all__ = ["run"]

_PROG = "llmrouter eval-router"


def _prices(flags: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``--price MODEL=IN,OUT`` flags as model -> (input, output) USD per million tokens."""
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
        """(input, output) USD per million tokens of ``model`` (a name or alias), or None."""
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
    """USD of an answer of ``model`` to ``prompt``: the flags' price, else the config's; the
    prompt's tokens estimated as the router estimates them, ``completion`` tokens out."""

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


def run(args: argparse.Namespace) -> int:
    """Run the evaluation the flags describe (:func:`.eval_router.add_parser`); returns the
    exit status."""
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
    except BrokenPipeError:
        raise  # stdout's reader left: llmrouter.cli.main ends quietly
    except OSError as exc:
        print(f"{_PROG}: cannot write the report: {exc}", file=sys.stderr)
        return 2
    return 0


def _evaluate(args: argparse.Namespace) -> tuple[Report, str]:
    if args.embeddings_url and not args.embedding_model:
        raise ValueError("--embedding-model: required with --embeddings-url")
    if args.embedding_model and not args.embeddings_url:
        raise ValueError(
            "--embedding-model: only used with --embeddings-url (the local hashing embedder "
            "has no model); give both, or neither"
        )
    for flag, value, least in (
        ("--completion-tokens", args.completion_tokens, 0),
        ("--seed", args.seed, 0),
        ("--k", args.k, 1),
        ("--batch-size", args.batch_size, 1),
    ):
        if value < least:
            raise ValueError(f"{flag}: expected a whole number >= {least}, got {value}")
    if not args.timeout > 0:
        raise ValueError(f"--timeout: expected seconds > 0, got {args.timeout:g}")
    if args.chart:
        from llmrouter.learned.chart import chart_format

        chart_format(Path(args.chart))
    thresholds = parse_thresholds(args.thresholds)
    flags = _prices(args.price)
    configured = _Configured(args.config) if args.config else None
    prompts = read_prompts(Path(args.prompts)) if args.prompts else None
    read = read_rows(Path(args.labelled), prompts, args.prompts)
    if read.unmatched:
        print(
            f"{_PROG}: {counted(read.unmatched, 'row')} skipped: "
            f"{'its' if read.unmatched == 1 else 'their'} request_id is not in {args.prompts}",
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
        thresholds=thresholds,
        k=args.k,
        chain_first=chain_first,
        embedder=embedder,
        source=args.labelled,
    )
    return report, args.chart
