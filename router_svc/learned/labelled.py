"""Loading the labelled set: graded answers (prompt, model, score) embedded into the predictor.

The file is JSON Lines, one ``{"prompt": str, "model": str, "score": number in [0, 1]}`` a
line (blank lines skipped); ``model`` is a registry name or alias. It is read and parsed in a
worker thread and its prompts embedded in batches through the router's own embedding engine,
in a background task: the router serves meanwhile (requests decide on what is loaded so far,
and on category estimates). A line that is not such an object, or names a model the registry
does not know, is logged by its number and skipped; a batch whose embed call fails is retried
a few times, then logged by its lines and skipped. The prompts are dropped once embedded;
only their vectors stay, in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmrouter.config import ConfigError
from llmrouter.values import frozen

from ..errors import RouterError
from ..registry import Registry
from .predictor import LearnedPredictor
from .prompts import Vector

__all__ = [
    "LabelledRow",
    "LabelledSetLoader",
    "LoadReport",
    "check_labelled_set",
    "parse_line",
    "read_labelled_set",
]

log = logging.getLogger(__name__)

# Seconds one batch's embed call may take.
_BATCH_TIMEOUT_S = 60.0
# Tries per batch, and the pause before the n-th retry (doubling).
_BATCH_TRIES = 3
_RETRY_PAUSE_S = 1.0
# Bad lines logged one by one; beyond this only their count (at the end).
_LOGGED_LINES = 20
# Seconds between progress lines while embedding.
_PROGRESS_EVERY_S = 5.0


@frozen
class LabelledRow:
    """One graded answer of the labelled set; ``line`` is its 1-based line number."""

    line: int
    prompt: str
    model: str
    score: float


def parse_line(text: str, line: int) -> LabelledRow | None:
    """The row on line ``line`` (None for a blank line). ValueError saying what is wrong
    (never quoting the prompt)."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("expected an object with prompt, model and score")
    prompt, model, score = data.get("prompt"), data.get("model"), data.get("score")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt: expected a non-empty string")
    if not isinstance(model, str) or not model:
        raise ValueError("model: expected a non-empty string")
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise ValueError("score: expected a number in [0, 1]")
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise ValueError(f"score: expected a number in [0, 1], got {score}")
    return LabelledRow(line, prompt, model, float(score))


def check_labelled_set(path: str, key: str = "router.learned.labelled_set") -> None:
    """Fail the start when the labelled set cannot be read (missing, a directory, no read
    permission): ConfigError naming ``key``. Its lines are checked later, as it loads."""
    try:
        with Path(path).open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None


def read_labelled_set(path: str) -> tuple[list[LabelledRow], list[tuple[int, str]]]:
    """The rows of the file at ``path`` and its bad lines as (line number, what is wrong).
    Blocking: run it in a thread. OSError when the file cannot be read."""
    rows: list[LabelledRow] = []
    bad: list[tuple[int, str]] = []
    with Path(path).open(encoding="utf-8", errors="replace") as file:
        for number, text in enumerate(file, start=1):
            try:
                row = parse_line(text, number)
            except ValueError as exc:
                bad.append((number, str(exc)))
                continue
            if row is not None:
                rows.append(row)
    return rows, bad


@dataclass(slots=True)
class LoadReport:
    """How a load went: rows read, embedded into the predictor, and skipped (bad lines,
    unknown models, failed batches)."""

    rows: int = 0
    embedded: int = 0
    bad_lines: int = 0
    unknown_models: int = 0
    failed: int = 0
    done: bool = False


class LabelledSetLoader:
    """Loads ``path`` into ``predictor`` in the background (:meth:`start`; :attr:`report`)."""

    def __init__(
        self,
        path: str,
        predictor: LearnedPredictor,
        registry: Registry,
        *,
        batch_size: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        progress: Callable[[str], None] = log.info,
    ) -> None:
        """``progress`` is told how the load goes (its start, every few seconds, its end);
        problems go to the log as warnings."""
        self._path = path
        self._progress = progress
        self._predictor = predictor
        self._registry = registry
        self._batch = max(batch_size, 1)
        self._clock = clock
        self._sleep = sleep
        self.report = LoadReport()
        self._task: asyncio.Task[LoadReport] | None = None

    def start(self) -> None:
        """Begin loading in a task of its own."""
        self._task = asyncio.get_running_loop().create_task(
            self.run(), name="llmrouter-labelled-set"
        )

    async def wait(self) -> LoadReport:
        """The report once the load ended (tests, the CLI)."""
        if self._task is None:
            return self.report
        return await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Cancel a load still running."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> LoadReport:
        """Read, check and embed the whole file; each problem is logged, none raised."""
        report = self.report
        name = self._path
        try:
            rows, bad = await asyncio.to_thread(read_labelled_set, name)
        except OSError as exc:
            log.error("learned routing: labelled_set %s not read (%s)", name, exc.strerror or exc)
            report.done = True
            return report
        report.bad_lines = len(bad)
        for number, why in bad[:_LOGGED_LINES]:
            log.warning("learned routing: labelled_set %s line %d skipped: %s", name, number, why)
        usable = []
        for row in rows:
            entry = self._registry.get(row.model)
            if entry is None:
                report.unknown_models += 1
                if report.unknown_models + len(bad[:_LOGGED_LINES]) <= _LOGGED_LINES:
                    log.warning(
                        "learned routing: labelled_set %s line %d skipped: model %r is not "
                        "in the registry",
                        name,
                        row.line,
                        row.model,
                    )
                continue
            usable.append(LabelledRow(row.line, row.prompt, entry.name, row.score))
        report.rows = len(rows) + len(bad)
        self._progress(
            f"learned routing: embedding {len(usable)} labelled rows of {name} with "
            f"{self._predictor.embedding_model}"
        )
        last_said = self._clock()
        chars = self._predictor.config.prompt_chars
        for start in range(0, len(usable), self._batch):
            batch = usable[start : start + self._batch]
            vectors = await self._embed([row.prompt[:chars] for row in batch], batch)
            if vectors is None:
                report.failed += len(batch)
            else:
                for row, vector in zip(batch, vectors, strict=True):
                    try:
                        self._predictor.learn(row.model, vector, row.score)
                    except ValueError as exc:
                        report.failed += 1
                        log.warning(
                            "learned routing: labelled_set %s line %d not added (%s)",
                            name,
                            row.line,
                            exc,
                        )
                        continue
                    report.embedded += 1
            if self._clock() - last_said >= _PROGRESS_EVERY_S:
                last_said = self._clock()
                self._progress(
                    f"learned routing: labelled_set {name}: {report.embedded} of {len(usable)} "
                    "rows embedded"
                )
        report.done = True
        self._progress(
            f"learned routing: labelled_set {name} loaded: {report.embedded} rows embedded, "
            f"{report.bad_lines} bad lines, {report.unknown_models} of unknown models, "
            f"{report.failed} not embedded; {self._predictor.points} points in the predictor"
        )
        return report

    async def _embed(self, texts: list[str], batch: list[LabelledRow]) -> list[Vector] | None:
        """The batch's vectors, or None once every try failed (logged by its lines)."""
        lines = f"lines {batch[0].line}-{batch[-1].line}"
        request = self._predictor.embed_request(texts)
        why = ""
        for attempt in range(_BATCH_TRIES):
            if attempt:
                await self._sleep(_RETRY_PAUSE_S * 2 ** (attempt - 1))
            embed = self._predictor.embedder
            if embed is None:
                why = "embedding engine not started"
                continue
            try:
                async with asyncio.timeout(_BATCH_TIMEOUT_S):
                    served = await embed(request, self._clock() + _BATCH_TIMEOUT_S)
            except TimeoutError:
                why = f"timed out after {_BATCH_TIMEOUT_S:g} s"
            except RouterError as exc:
                why = exc.reason
            else:
                return [np.asarray(v, dtype=np.float32) for v in served.vectors]
        log.warning(
            "learned routing: labelled_set %s %s not embedded after %d tries (%s)",
            self._path,
            lines,
            _BATCH_TRIES,
            why,
        )
        return None
