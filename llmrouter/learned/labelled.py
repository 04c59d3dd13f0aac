"""A labelled set for ``llmrouter eval-router``: graded answers read from JSONL, checked row by
row, and arranged as a prompts x models matrix of scores and costs.

One line per (prompt, model) answer::

    {"prompt": "...", "model": "mid", "score": 0.8,            # required; score in [0, 1]
     "id": "p17", "category": "code", "cost_usd": 0.00021,     # optional
     "embedding": [0.01, -0.2, ...]}                           # optional

``id`` groups the rows of one prompt (default: the prompt text). A row may carry a
``request_id`` instead of the prompt (``llmrouter feedback export`` writes such rows): its
prompt (and ``id``) then come from the user's own prompt log (:func:`read_prompts`).
``cost_usd`` is what that answer cost (else a price gives it, :data:`Pricer`); ``embedding``
is the prompt's vector, given on any of the prompt's rows (else the caller embeds the prompt
text). Several rows of one
(prompt, model) (two judges, say) count as their mean score and mean cost. Only prompts
labelled for every model enter the matrix; the others are counted as dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmrouter.wording import counted

__all__ = [
    "LabelledSet",
    "LabelledSetError",
    "Pricer",
    "ReadRows",
    "Row",
    "labelled_set",
    "read_prompts",
    "read_rows",
]

# A model's cost in USD of answering a prompt (its text), or None when no price is known.
Pricer = Callable[[str, str], float | None]

# Problems listed before the rest are summarised: enough to fix a file in one pass.
_MAX_PROBLEMS = 20


class LabelledSetError(ValueError):
    """The set cannot be used: ``problems`` are lines "FILE:LINE: field: what is wrong"."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Row:
    """One graded answer, as read (``line``: 1-based line number in the file)."""

    line: int
    prompt_id: str
    prompt: str
    model: str
    score: float
    category: str = ""
    cost_usd: float | None = None
    embedding: tuple[float, ...] | None = None


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (JSON true/false are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# request_id -> (prompt, prompt id or "")
Prompts = Mapping[str, tuple[str, str]]
_UNMATCHED = Row(0, "", "", "", 0.0)


def _row(line: int, data: Any, prompts: Prompts | None) -> tuple[Row | None, list[str]]:
    """The row of one decoded line, or None and the problems "field: what is wrong"
    (:data:`_UNMATCHED` for a row whose request_id ``prompts`` lacks)."""
    if not isinstance(data, dict):
        return None, ["not a JSON object"]
    problems: list[str] = []
    if prompts is not None and "prompt" not in data and "request_id" in data:
        request_id = data["request_id"]
        if not isinstance(request_id, str) or not request_id:
            return None, ["request_id: expected a non-empty string"]
        if request_id not in prompts:
            return _UNMATCHED, []
        prompt_text, prompt_id = prompts[request_id]
        data = {**data, "prompt": prompt_text}
        if prompt_id and "id" not in data:
            data["id"] = prompt_id

    def text(name: str, required: bool) -> str:
        value = data.get(name)
        if value is None:
            if required:
                problems.append(f"{name}: missing")
            return ""
        if isinstance(value, int) and not isinstance(value, bool) and name == "id":
            return str(value)
        if not isinstance(value, str):
            problems.append(f"{name}: expected a string, got {type(value).__name__}")
            return ""
        if required and not value.strip():
            problems.append(f"{name}: empty")
        return value

    prompt = text("prompt", True)
    model = text("model", True)
    prompt_id = text("id", False)
    category = text("category", False)
    score = _number(data.get("score"))
    if "score" not in data:
        problems.append("score: missing")
    elif score is None or not 0.0 <= score <= 1.0:
        problems.append(f"score: expected a number in [0, 1], got {data['score']!r}")
    cost: float | None = None
    if data.get("cost_usd") is not None:
        cost = _number(data["cost_usd"])
        if cost is None or cost < 0:
            problems.append(f"cost_usd: expected a number >= 0, got {data['cost_usd']!r}")
    embedding: tuple[float, ...] | None = None
    if data.get("embedding") is not None:
        raw = data["embedding"]
        values = [_number(v) for v in raw] if isinstance(raw, list) else []
        if not values or any(v is None for v in values):
            problems.append("embedding: expected a non-empty list of finite numbers")
        elif not any(values):
            problems.append("embedding: all zeros (no direction to compare)")
        else:
            embedding = tuple(v for v in values if v is not None)
    if problems:
        return None, problems
    assert score is not None
    row = Row(line, prompt_id or prompt, prompt, model, score, category, cost, embedding)
    return row, []


@dataclass(frozen=True, slots=True)
class ReadRows:
    """The rows of a file, and how many rows were skipped for a request_id with no prompt."""

    rows: list[Row]
    unmatched: int = 0


def _objects(path: Path, problems: list[str]) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON) of each non-blank line; a line that is not UTF-8 or not
    JSON is added to ``problems`` ("FILE:LINE: ...")."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(
                    f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                )
                continue
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{number}: not JSON ({exc.msg})")


def read_rows(path: Path, prompts: Prompts | None = None, prompts_source: str = "") -> ReadRows:
    """The rows of the JSONL file at ``path`` (blank lines skipped). With ``prompts``
    (:func:`read_prompts`, read from ``prompts_source``), a row with a ``request_id`` and no
    ``prompt`` takes the logged prompt; one whose request id is not logged is skipped and
    counted.

    Raises LabelledSetError naming each bad line and field, OSError when the file cannot be read.
    """
    rows: list[Row] = []
    problems: list[str] = []
    unmatched = 0
    for number, data in _objects(path, problems):
        row, found = _row(number, data, prompts)
        problems.extend(f"{path}:{number}: {problem}" for problem in found)
        if row is _UNMATCHED:
            unmatched += 1
        elif row is not None:
            rows.append(row)
    if problems:
        raise LabelledSetError(_summarised(problems))
    if not rows and unmatched:
        raise LabelledSetError(
            [
                f"{path}: {counted(unmatched, 'row')} read, but none matched a prompt in "
                f"{prompts_source or 'the prompt log'} (by request_id)"
            ]
        )
    if not rows:
        raise LabelledSetError([f"{path}: no rows (one JSON object per line)"])
    return ReadRows(rows, unmatched)


def read_prompts(path: Path) -> dict[str, tuple[str, str]]:
    """A prompt log: request_id -> (prompt, prompt id or "") from JSONL lines
    ``{"request_id": str, "prompt": str, "id": str (optional)}``.

    Raises LabelledSetError naming each bad line and field (a request id logged twice
    included), OSError when the file cannot be read.
    """
    logged: dict[str, tuple[str, str]] = {}
    first: dict[str, int] = {}
    problems: list[str] = []
    for number, data in _objects(path, problems):
        where = f"{path}:{number}"
        if not isinstance(data, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        request_id, prompt, prompt_id = (data.get(k) for k in ("request_id", "prompt", "id"))
        if not isinstance(request_id, str) or not request_id:
            problems.append(f"{where}: request_id: expected a non-empty string")
        elif not isinstance(prompt, str) or not prompt.strip():
            problems.append(f"{where}: prompt: expected a non-empty string")
        elif prompt_id is not None and not isinstance(prompt_id, str):
            problems.append(f"{where}: id: expected a string")
        elif request_id in logged:
            problems.append(
                f"{where}: request_id: {request_id!r} already on line {first[request_id]}"
            )
        else:
            logged[request_id] = (prompt, prompt_id or "")
            first[request_id] = number
    if problems:
        raise LabelledSetError(_summarised(problems))
    return logged


def _summarised(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_PROBLEMS:
        return problems
    more = len(problems) - _MAX_PROBLEMS
    return [*problems[:_MAX_PROBLEMS], f"... and {counted(more, 'more problem')}"]


@dataclass(frozen=True)
class LabelledSet:
    """Prompts labelled for every model, as matrices.

    ``scores`` and ``costs`` are (prompts, models) float64 arrays (quality in [0, 1], USD per
    answer); ``categories`` holds "" for a prompt without one; ``embeddings`` is (prompts,
    dimensions) float32 when the rows carried vectors, else None. ``dropped`` prompts lacked a
    label of some model; ``missing`` counts them by the model they lacked.
    """

    prompt_ids: tuple[str, ...]
    prompts: tuple[str, ...]
    categories: tuple[str, ...]
    models: tuple[str, ...]
    scores: npt.NDArray[np.float64]
    costs: npt.NDArray[np.float64]
    embeddings: npt.NDArray[np.float32] | None = None
    dropped: int = 0
    missing: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompt_ids)


@dataclass
class _Prompt:
    text: str
    line: int
    category: str = ""
    embedding: tuple[float, ...] | None = None
    embedding_line: int = 0
    # model -> [sum of scores, sum of costs, rows]
    answers: dict[str, list[float]] = field(default_factory=dict)


def labelled_set(
    rows: Iterable[Row],
    pricer: Pricer,
    *,
    source: str = "",
    models: Sequence[str] = (),
) -> LabelledSet:
    """Arrange ``rows`` as a :class:`LabelledSet` over ``models`` (default: every model named).

    A row without ``cost_usd`` costs what ``pricer`` says for its model and prompt. Raises
    LabelledSetError ("``source``:LINE: field: problem") for a row no price covers, embeddings
    of different lengths or given for some prompts only, and for a set left with no prompt
    labelled for every model (or fewer than two models).
    """
    prompts: dict[str, _Prompt] = {}
    problems: list[str] = []
    unpriced: set[str] = set()
    seen_models: dict[str, None] = {}
    for row in rows:
        seen_models.setdefault(row.model)
        if models and row.model not in models:
            continue
        cost = row.cost_usd if row.cost_usd is not None else pricer(row.model, row.prompt)
        if cost is None:
            # Once per model: the fix (a price) is per model, not per line.
            if row.model not in unpriced:
                unpriced.add(row.model)
                problems.append(
                    f"{source}:{row.line}: cost_usd: missing, and no price for model "
                    f"{row.model!r} (give --price {row.model}=IN,OUT in USD per million "
                    "tokens, or --config with the model's prices)"
                )
            continue
        prompt = prompts.setdefault(row.prompt_id, _Prompt(row.prompt, row.line))
        if row.category and not prompt.category:
            prompt.category = row.category
        if row.embedding is not None and prompt.embedding is None:
            prompt.embedding, prompt.embedding_line = row.embedding, row.line
        answer = prompt.answers.setdefault(row.model, [0.0, 0.0, 0.0])
        answer[0] += row.score
        answer[1] += cost
        answer[2] += 1
    wanted = tuple(models) or tuple(seen_models)
    for name in models:
        if name not in seen_models:
            problems.append(f"{source}: model {name!r} (--models) labels no row")
    if problems:
        raise LabelledSetError(_summarised(problems))
    if len(wanted) < 2:
        raise LabelledSetError(
            [f"{source}: the rows grade {counted(len(wanted), 'model')}; routing needs two"]
        )
    kept = {key: p for key, p in prompts.items() if all(m in p.answers for m in wanted)}
    missing: dict[str, int] = {}
    for prompt in prompts.values():
        for name in wanted:
            if name not in prompt.answers:
                missing[name] = missing.get(name, 0) + 1
    if not kept:
        raise LabelledSetError(
            [f"{source}: no prompt is labelled for every model ({', '.join(wanted)})"]
        )
    ordered = list(kept.values())
    scores = np.array([[p.answers[m][0] / p.answers[m][2] for m in wanted] for p in ordered])
    costs = np.array([[p.answers[m][1] / p.answers[m][2] for m in wanted] for p in ordered])
    return LabelledSet(
        prompt_ids=tuple(kept),
        prompts=tuple(p.text for p in ordered),
        categories=tuple(p.category for p in ordered),
        models=wanted,
        scores=scores.astype(np.float64),
        costs=costs.astype(np.float64),
        embeddings=_embeddings(ordered, source),
        dropped=len(prompts) - len(kept),
        missing=missing,
    )


def _embeddings(prompts: list[_Prompt], source: str) -> npt.NDArray[np.float32] | None:
    """The prompts' given vectors as one matrix; None when no row gave one."""
    given = [p for p in prompts if p.embedding is not None]
    if not given:
        return None
    first = given[0]
    assert first.embedding is not None
    size = len(first.embedding)
    for prompt in prompts:
        if prompt.embedding is None:
            raise LabelledSetError(
                [
                    f"{source}:{prompt.line}: embedding: missing for this prompt while line "
                    f"{first.embedding_line} gives one (give every prompt a vector, or none)"
                ]
            )
        if len(prompt.embedding) != size:
            raise LabelledSetError(
                [
                    f"{source}:{prompt.embedding_line}: embedding: {len(prompt.embedding)} "
                    f"numbers, but line {first.embedding_line} has {size}"
                ]
            )
    return np.array([p.embedding for p in prompts], dtype=np.float32)
