"""The evaluation job: claim stored samples, have the judge grade each, send the grades to the
metrics service as feedback, delete the samples.

A run walks the samples oldest first, claiming a batch at a time (:data:`BATCH`, graded
concurrently) for a lease long enough to grade it; replicas sharing the admin store never
claim the same sample at once. Per sample:

* the judge model (and, in pairwise mode first, the reference model) is called through the
  router's engine, as any request (failover, breakers, prices; usage in the ledger with source
  and front door ``evaluation``, no API key);
* its reply is read (:mod:`.judge`); a failed call or an unreadable reply is a failed try:
  the sample goes back for a later run, and after ``max_attempts`` tries it is deleted;
* the grade goes to ``RecordFeedback`` (source ``judge:<judge_model>``); once the metrics
  service took it the sample is deleted. When it did not (not reachable, the request's usage
  not in the ledger yet, the router's token lacking the feedback scope), the grade is kept
  without the conversation and sent again by a later run.

Scheduled runs (``schedule``, a cron expression read with croniter, UTC) grade at most
``max_samples_per_run``; ``RunEvaluation`` runs one on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..admin_store import AdminStoreError, StoredSample
from ..chat import ChatRequest, Message, ResponseFormat
from ..errors import FailedPrecondition, RouterError
from ..translate.chat_checks import EVALUATION_SOURCE
from .config import EvaluationConfig
from .cron import next_run
from .judge import (
    ABSOLUTE_SCHEMA,
    PAIRWISE_SCHEMA,
    Grade,
    Unreadable,
    absolute_prompt,
    conversation_messages,
    pairwise_prompt,
    read_absolute,
    read_pairwise,
    render_answer,
)

if TYPE_CHECKING:
    from ..admin_store import EvalSamples
    from ..registry import Registry
    from ..routing.failover import Engine

__all__ = [
    "BATCH",
    "EVALUATION_SOURCE",
    "Evaluator",
    "FeedbackNotStored",
    "RunResult",
    "SendFeedback",
    "judge_source",
    "next_run",
]

log = logging.getLogger(__name__)

#: Samples claimed (and graded concurrently) at a time.
BATCH = 8
# Seconds one RecordFeedback call may take.
_FEEDBACK_TIMEOUT_S = 10.0
# Feedback sources are at most 64 characters of [A-Za-z0-9._:-] (metrics_service.proto).
_SOURCE_CHARS = re.compile(r"[^A-Za-z0-9._:-]")


class FeedbackNotStored(Exception):
    """The metrics service did not store a grade; ``code`` is its gRPC status name."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


#: Sends one grade: (request_id, source, score in [0, 1], label). Raises
#: :class:`FeedbackNotStored` when the metrics service refuses or cannot be reached.
SendFeedback = Callable[[str, str, float, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one run did (RunEvaluationResponse)."""

    graded: int
    failed: int
    pending: int
    judge_cost_usd: float


def judge_source(judge_model: str) -> str:
    """The feedback source of the judge's grades: ``judge:<model>``, with characters a
    source may not hold as ``-`` and at most 64 characters."""
    return _SOURCE_CHARS.sub("-", f"judge:{judge_model}")[:64]


class Evaluator:
    """Runs evaluation jobs on demand (:meth:`run`) and on the schedule (:meth:`start`)."""

    def __init__(
        self,
        config: EvaluationConfig,
        store: EvalSamples,
        engine: Engine,
        registry: Registry,
        send: SendFeedback,
        *,
        store_content: bool,
        deadline_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """``deadline_s``: each judge (and reference) call's deadline; ``store_content``: the
        router's switch (off: a run is refused, nothing having been sampled)."""
        self._config = config
        self._store = store
        self._engine = engine
        self._registry = registry
        self._send = send
        self._store_content = store_content
        self._deadline = deadline_s
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._rand = rand
        self._source = judge_source(config.judge_model)
        # A batch's lease: each sample takes at most two calls in turn, then the feedback.
        self._lease_s = 2 * deadline_s + _FEEDBACK_TIMEOUT_S + 60.0
        self._task: asyncio.Task[None] | None = None
        # Whether a refused credential was logged: said once until a grade goes through.
        self._denied_logged = False
        #: Scheduled runs done, and totals of every run (Prometheus, tests).
        self.scheduled_runs = 0
        self.graded_total = 0
        self.failed_total = 0
        self.judge_cost_total = 0.0

    @property
    def source(self) -> str:
        """The feedback source of this judge's grades."""
        return self._source

    # The schedule ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run on the schedule in the background (nothing when ``schedule`` is empty)."""
        if self._config.schedule.strip() and self._store_content:
            self._task = asyncio.get_running_loop().create_task(
                self._scheduled(), name="llmrouter-evaluation-schedule"
            )

    async def stop(self) -> None:
        """Stop the scheduled runs (a run in progress is cancelled; its claims are given
        back)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _scheduled(self) -> None:
        last = self._wall()
        while True:
            # From the later of now and the last run's time: a sleep that ends a moment early
            # does not name the same minute again.
            due = next_run(self._config.schedule, max(self._wall(), last))
            await self._sleep(max(due - self._wall(), 0.0))
            last = due
            try:
                result = await self.run(self._config.max_samples_per_run)
            except (AdminStoreError, RouterError) as exc:
                log.warning("evaluation: the scheduled run failed (%s)", exc)
                continue
            except Exception:  # a defect: said, and the schedule goes on
                log.exception("evaluation: the scheduled run failed")
                continue
            finally:
                self.scheduled_runs += 1
            if result.graded or result.failed:
                log.info(
                    "evaluation: %d graded, %d failed, %d pending, judge cost %.6f USD",
                    result.graded,
                    result.failed,
                    result.pending,
                    result.judge_cost_usd,
                )

    # A run ----------------------------------------------------------------------------------

    async def run(self, limit: int = 0) -> RunResult:
        """Grade up to ``limit`` stored samples (0: all), oldest first.

        Raises FailedPrecondition when ``store_content`` is off, AdminStoreError when the store
        cannot be read or written.
        """
        if not self._store_content:
            raise FailedPrecondition(
                "evaluation samples nothing while router.store_content is false: there is "
                "nothing to grade"
            )
        now = datetime.fromtimestamp(self._wall(), UTC)
        await self._store.purge(now - timedelta(seconds=self._config.retention_s))
        claim_id = uuid.uuid4().hex
        graded = failed = 0
        cost = 0.0
        cursor = 0
        left = limit if limit > 0 else None
        while left is None or left > 0:
            size = BATCH if left is None else min(BATCH, left)
            now = datetime.fromtimestamp(self._wall(), UTC)
            batch = await self._store.claim(claim_id, size, cursor, now, self._lease_s)
            if not batch:
                break
            cursor = batch[-1].id
            try:
                outcomes = await asyncio.gather(*(self._one(s, claim_id) for s in batch))
            except BaseException:
                with contextlib.suppress(AdminStoreError):
                    await self._store.release([s.id for s in batch], claim_id)
                raise
            for ok, spent in outcomes:
                graded += ok
                failed += not ok
                cost += spent
                self.graded_total += ok
                self.failed_total += not ok
            if left is not None:
                left -= len(batch)
        if graded or failed:
            await self._store.scrub()
        return RunResult(graded, failed, await self._store.pending(), cost)

    async def _one(self, sample: StoredSample, claim_id: str) -> tuple[bool, float]:
        """Grade and deliver one sample; (delivered, USD spent on it).

        Each judge (and reference) call's cost is counted as soon as the call returns, so an
        unreadable grade, a failing second call or a store error after it loses none of it.
        """
        spent = _Spent()
        try:
            return await self._graded(sample, claim_id, spent), spent.usd
        finally:
            self.judge_cost_total += spent.usd

    async def _graded(self, sample: StoredSample, claim_id: str, spent: _Spent) -> bool:
        if sample.score is not None and sample.raw_score is not None:
            grade = Grade(sample.score, sample.raw_score)  # graded before, not delivered
        else:
            try:
                grade = await self._grade(sample, spent)
            except RouterError as exc:
                return await self._failed(sample, claim_id, exc.reason)
            except Unreadable as exc:
                return await self._failed(sample, claim_id, f"unreadable grade: {exc}")
            except ValueError:
                return await self._failed(sample, claim_id, "stored conversation unreadable")
        try:
            await self._send(sample.request_id, self._source, grade.score, self._config.mode)
        except FeedbackNotStored as exc:
            self._not_stored(sample.request_id, exc)
            await self._store.undelivered(
                sample.id,
                claim_id,
                score=grade.score,
                raw_score=grade.raw,
                label=self._config.mode,
                error=f"feedback: {exc.code}",
            )
            return False
        self._denied_logged = False
        await self._store.delete(sample.id, claim_id)
        return True

    async def _failed(self, sample: StoredSample, claim_id: str, why: str) -> bool:
        """Count a failed try of ``sample`` (deleted after max_attempts); False."""
        gone = await self._store.failed(sample.id, claim_id, why, self._config.max_attempts)
        log.warning(
            "evaluation: request %s not graded (%s); %s",
            sample.request_id,
            why,
            "given up after max_attempts tries" if gone else "kept for a later run",
        )
        return False

    def _not_stored(self, request_id: str, exc: FeedbackNotStored) -> None:
        if exc.code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            if not self._denied_logged:
                self._denied_logged = True
                log.error(
                    "evaluation: the metrics service refused RecordFeedback (%s): the token of "
                    "router.metrics_token_env needs the feedback scope (metrics.auth_tokens); "
                    "grades are kept and sent again by later runs",
                    exc.code,
                )
            return
        log.warning(
            "evaluation: grade of request %s not stored by the metrics service (%s); sent "
            "again by a later run",
            request_id,
            exc.code,
        )

    async def _grade(self, sample: StoredSample, spent: _Spent) -> Grade:
        """The judge's grade of ``sample``; what its calls cost is added to ``spent``."""
        rubric = self._config.judge_rubric
        if self._config.mode == "absolute":
            text = await self._ask(
                self._config.judge_model,
                absolute_prompt(rubric, sample.messages_json, sample.answer),
                spent,
                schema=ABSOLUTE_SCHEMA,
            )
            return read_absolute(text)
        reference = await self._ask(
            self._config.reference_model, conversation_messages(sample.messages_json), spent
        )
        # Which answer is shown first is drawn each time: judges favour a position.
        sampled_is_a = self._rand() < 0.5
        first, second = (sample.answer, reference) if sampled_is_a else (reference, sample.answer)
        text = await self._ask(
            self._config.judge_model,
            pairwise_prompt(rubric, sample.messages_json, first, second),
            spent,
            schema=PAIRWISE_SCHEMA,
        )
        return read_pairwise(text, sampled_is_a)

    async def _ask(
        self,
        model: str,
        messages: tuple[Message, ...],
        spent: _Spent,
        *,
        schema: ResponseFormat | None = None,
    ) -> str:
        """Ask ``model`` through the engine; its answer's text (its cost added to ``spent``
        before anything else can fail). ``schema``: the judge's reply format, asked for when
        the model has ``json_mode`` (the reference model is asked as the client asked)."""
        entry = self._registry.get(model)
        judge = schema is not None
        wants_json = judge and entry is not None and entry.config.json_mode
        request = ChatRequest(
            model=model,
            messages=messages,
            temperature=0.0 if judge else None,
            response_format=schema if wants_json else None,
            source=EVALUATION_SOURCE,
            front_door=EVALUATION_SOURCE,
        )
        served = await self._engine.complete(request, self._clock() + self._deadline)
        spent.usd += served.cost_usd
        completion = served.completion
        return render_answer(
            completion.content, [(c.name, c.arguments) for c in completion.tool_calls]
        )


class _Spent:
    """USD spent by one sample's calls so far (a mutable tally the calls add to)."""

    __slots__ = ("usd",)

    def __init__(self) -> None:
        self.usd = 0.0
