"""Chunked triggers: many jobs of one trigger run in one transaction.

    perform_chunk(first)
      gather    claim more runnable jobs of the same trigger, tenant, actor and `by`
                arguments, up to `size`, waiting at most the chunk's `timeout` for them
      lock      the jobs (still `executing` their attempt), in one statement
      rows      lock the rows that still match `where`, in one query (rows another worker
                holds are skipped, and their jobs left to the single-job path)
      perform   the action on each row in its own savepoint (or the bulk action once), the
                whole under the trigger's `timeout`
      record    the completed jobs in one statement, every other outcome per job as the
                single-job path records it (`on_error` after a job's last attempt)
      commit    once

A chunk is one attempt of each of its jobs: the claim committed before it, so a worker that
dies mid-chunk leaves every job `executing`, its writes rolled back, for the rescue.
When the chunk as a whole fails (its timeout, a lost connection, a refused commit), every
job's attempt failed with that error, and each is concluded as a single job's would be.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, Q

from .. import ledger
from ..actors import lookup_actor
from ..context import job_context
from ..declarations import Chunks, DeclarationState
from ..exceptions import JobTimeout
from ..ledger import Backend
from ..models import Job
from ..registry import RegisteredTrigger, registry
from ..signals import job_finished, job_started
from ..states import Kind
from ..tenants import filter_tenant, tenant_context
from .deadline import deadline, idle_bound
from .executor import conclude, decide, perform, reconnecting, record, release_claimed
from .outcome import Cancelled, classify
from .runners import TriggerRunner, call, check_permission

logger = logging.getLogger("ash_oban_django")

# Seconds between two looks for more jobs while a chunk fills.
FILL_POLL = 0.05


def chunks_of(job: Job) -> Chunks | None:
    """The `Chunks` of the job's trigger when the job is a worker job of an active chunked
    trigger; None otherwise (the job runs alone)."""
    if job.kind != Kind.TRIGGER:
        return None
    found = registry.by_stable_name(job.name)
    if found is None:
        return None
    entry, kind = found
    if kind != Kind.TRIGGER or not isinstance(entry, RegisteredTrigger):
        return None
    if entry.state != DeclarationState.ACTIVE:
        return None  # the single-job path cancels it
    return entry.trigger.chunks


def same_chunk(job: Job, chunks: Chunks) -> Q:
    """The jobs that may share a chunk with `job`: the same trigger, tenant, actor and
    values of the `by` arguments (a missing key is a value of its own)."""
    among = Q(kind=Kind.TRIGGER, name=job.name, tenant_key=job.tenant_key)
    if "actor" in job.args:
        among &= Q(args__actor=job.args["actor"])
    else:
        among &= ~Q(args__has_key="actor")
    arguments = job.args.get("action_arguments", {})
    for key in chunks.by:
        if key in arguments:
            among &= Q(**{f"args__action_arguments__{key}": arguments[key]})
        else:  # (a job without action_arguments has none of the keys)
            among &= Q(args__action_arguments__isnull=True) | ~Q(
                args__action_arguments__has_key=key
            )
    return among


def gather(
    engine: Backend, first: Job, chunks: Chunks, *, wait: bool = True, most: int | None = None
) -> list[Job]:
    """`first` and the jobs claimed to run with it: up to `size` (or `most`), waiting at
    most the chunk's `timeout` for them when `wait`."""
    size = chunks.size if most is None else max(1, min(chunks.size, most))
    jobs = [first]
    among = same_chunk(first, chunks)
    limit = ledger.queue_limit(first.queue)
    give_up = time.monotonic() + (chunks.timeout if wait else 0.0)
    while len(jobs) < size:
        jobs += engine.claim_chunk(first.queue, among, size - len(jobs), max_running=limit)
        if len(jobs) >= size or time.monotonic() + FILL_POLL > give_up:
            break
        time.sleep(FILL_POLL)
    return jobs


@dataclass(slots=True)
class _Chunk:
    """What became of a chunk's jobs inside its transaction."""

    done: list[TriggerRunner] = field(default_factory=list)
    failed: list[tuple[TriggerRunner, BaseException]] = field(default_factory=list)
    gone: list[TriggerRunner] = field(default_factory=list)  # row gone or no longer matching
    held: list[TriggerRunner] = field(default_factory=list)  # row held by another worker
    moved_on: list[TriggerRunner] = field(default_factory=list)  # job rescued meanwhile
    # True once the jobs' own code runs: a failure before that is the package's.
    working: bool = False


class ChunkFailed(Exception):
    """The chunk as a whole failed once its jobs' work had begun (every attempt failed)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def perform_chunk(first: Job, *, wait: bool = True, most: int | None = None) -> list[Job]:
    """Run the chunk that the claimed job `first` starts (its trigger must be chunked):
    gather its other jobs, run them in one transaction, and return every job as it was
    left."""
    engine = ledger.engine()
    chunks = chunks_of(first)
    if chunks is None:
        return [perform(first)]
    started = time.monotonic()
    try:
        jobs = gather(engine, first, chunks, wait=wait, most=most)
    except Exception as error:
        if not engine.connection_lost(error):
            raise
        # Lost while the chunk filled: its jobs so far (and a claim the server committed as
        # the session ended) are given back, as a single job's would be, not left to the
        # rescue to count as failed attempts.
        return reconnecting(engine, partial(release_claimed, engine, error))
    found = registry.by_stable_name(first.name)
    assert found is not None, "a chunked trigger owns the job's name"
    runners = [TriggerRunner(job, found[0]) for job in jobs]
    try:
        outcome = run_chunk(engine, runners, chunks)
    except ChunkFailed as failed:
        return _conclude_all(engine, runners, failed.error, started)
    except Exception as error:
        if not engine.connection_lost(error):
            raise  # the package's own failure: the jobs stay `executing`, for the rescue
        return _conclude_all(engine, runners, error, started)
    finished = [r.job for r in (*outcome.done, *outcome.gone)]
    finished += [runner.job for runner, _ in outcome.failed]
    errors = {runner.job.pk: error for runner, error in outcome.failed}
    duration = time.monotonic() - started
    for job in finished:
        job_finished.send_robust(
            Job, job=job, state=job.state, duration=duration, error=errors.get(job.pk)
        )
    # Rows another worker held were skipped: their jobs run alone, waiting for the lock.
    finished += [perform(runner.job) for runner in outcome.held]
    return finished + [runner.job for runner in outcome.moved_on]


def _conclude_all(
    engine: Backend, runners: Sequence[TriggerRunner], error: BaseException, started: float
) -> list[Job]:
    """Every job's attempt failed with `error`: each is concluded as a single job's."""
    left = []
    for runner in runners:
        job = reconnecting(engine, partial(conclude, engine, runner, error))
        job_finished.send_robust(
            Job, job=job, state=job.state, duration=time.monotonic() - started, error=error
        )
        left.append(job)
    return left


def run_chunk(engine: Backend, runners: list[TriggerRunner], chunks: Chunks) -> _Chunk:
    """Lock, perform and record a chunk in one transaction. Raises `ChunkFailed` when the
    chunk as a whole failed once its work had begun."""
    outcome = _Chunk()
    # Bounded on the server like a single attempt (`deadline.idle_bound`), by the trigger's
    # timeout: a worker that stops mid-chunk loses its locks.
    bound = idle_bound(runners[0].timeout if runners else None, None)
    try:
        with engine.bound_transaction(bound):
            held = {job.pk for job in engine.lock_chunk([r.job for r in runners])}
            outcome.moved_on = [r for r in runners if r.job.pk not in held]
            running = [r for r in runners if r.job.pk in held]
            if not running:
                return outcome
            entry = running[0].trigger_entry
            tenant = running[0].job.tenant
            outcome.working = True
            actor = lookup_actor(running[0].job.args.get("actor"))
            with tenant_context(tenant):
                with deadline(entry.trigger.timeout):
                    _perform(engine, entry, chunks, running, actor, tenant, outcome)
                _record(engine, entry, outcome)
    except Exception as error:
        if not outcome.working or engine.connection_lost(error):
            raise
        raise ChunkFailed(error) from error
    return outcome


def _perform(
    engine: Backend,
    entry: RegisteredTrigger,
    chunks: Chunks,
    runners: list[TriggerRunner],
    actor: Any,
    tenant: Any,
    outcome: _Chunk,
) -> None:
    records, held = lock_rows(entry, tenant, [r.job.object_pk for r in runners])
    found = []
    for runner in runners:
        pk = runner.job.object_pk
        if pk in records:
            found.append(runner)
        elif pk in held:
            outcome.held.append(runner)
        else:
            outcome.gone.append(runner)
    runners[0].debug("Chunk trigger %s processing %s jobs", entry.label, len(found))
    with engine.savepoints_batched():
        if chunks.bulk_action is None:
            for runner in found:
                record = records[runner.job.object_pk]
                _perform_row(engine, entry, runner, record, actor, tenant, outcome)
        else:
            _perform_bulk(engine, entry, chunks, found, records, actor, tenant, outcome)


def lock_rows(
    entry: RegisteredTrigger, tenant: Any, pks: Sequence[str]
) -> tuple[dict[str, Model], set[str]]:
    """The rows of `pks` that still match `where`, locked (skipping rows another worker
    holds, where the database can), by their pk as jobs store it; and the pks of the rows
    that were skipped but match (those held elsewhere)."""
    trigger = entry.trigger
    queryset = filter_tenant(entry.queryset(for_worker=True), entry, tenant)
    matching = queryset.filter(trigger.where or Q(), pk__in=list(pks))
    locking, skipping = matching, False
    if trigger.lock_for_update:
        features = connections[queryset.db].features
        of = ("self",) if features.has_select_for_update_of else ()
        skipping = features.has_select_for_update_skip_locked
        locking = matching.select_for_update(of=of, skip_locked=skipping).order_by("pk")
    records = {str(record.pk): record for record in locking}
    missing = [pk for pk in pks if pk not in records]
    held: set[str] = set()
    if missing and skipping:
        # A plain read: a row skipped but still matching is locked by another worker.
        held = {str(pk) for pk in matching.filter(pk__in=missing).values_list("pk", flat=True)}
    return records, held


def _stops_the_chunk(engine: Backend, error: BaseException) -> bool:
    """Whether an error ends the whole chunk rather than one row's attempt."""
    return isinstance(error, JobTimeout) or engine.connection_lost(error)


def _perform_row(
    engine: Backend,
    entry: RegisteredTrigger,
    runner: TriggerRunner,
    record: Model,
    actor: Any,
    tenant: Any,
    outcome: _Chunk,
) -> None:
    """The action on one row, in its own savepoint: a failure rolls back only this row."""
    context = runner.context(actor, tenant)
    job_started.send_robust(Job, job=runner.job, context=context)
    try:
        with transaction.atomic(using=engine.alias), job_context(context):
            check_permission(entry, record, actor)
            runner.call_action(record)
    except Exception as error:
        if _stops_the_chunk(engine, error):
            raise
        outcome.failed.append((runner, error))
    else:
        outcome.done.append(runner)


def _perform_bulk(
    engine: Backend,
    entry: RegisteredTrigger,
    chunks: Chunks,
    runners: list[TriggerRunner],
    records: dict[str, Model],
    actor: Any,
    tenant: Any,
    outcome: _Chunk,
) -> None:
    """The bulk action once over the chunk's rows, in a savepoint: when it raises, every
    row's attempt failed; rows it reports failed fail alone."""
    permitted = []
    for runner in runners:
        job_started.send_robust(Job, job=runner.job, context=runner.context(actor, tenant))
        try:
            check_permission(entry, records[runner.job.object_pk], actor)
        except Exception as error:  # noqa: BLE001 - the row's attempt failed
            outcome.failed.append((runner, error))
        else:
            permitted.append(runner)
    if not permitted:
        return
    assert chunks.bulk_action is not None
    arguments = permitted[0].job.args.get("action_arguments", {})
    inputs = {**entry.trigger.action_input}
    inputs.update({key: arguments[key] for key in chunks.by if key in arguments})
    rows = list(
        {runner.job.object_pk: records[runner.job.object_pk] for runner in permitted}.values()
    )
    try:
        with transaction.atomic(using=engine.alias):
            reported = call(partial(getattr(entry.model, chunks.bulk_action), rows), **inputs)
            failures = row_failures(entry, reported)
    except Exception as error:
        if _stops_the_chunk(engine, error):
            raise
        outcome.failed += [(runner, error) for runner in permitted]
        return
    for runner in permitted:
        failure = failures.get(runner.job.object_pk)
        if failure is None:
            outcome.done.append(runner)
        else:
            outcome.failed.append((runner, failure))


def row_failures(entry: RegisteredTrigger, reported: Any) -> dict[str, BaseException]:
    """What a bulk action returned, as the failed rows' errors by pk as jobs store it."""
    if reported is None:
        return {}
    method = f"{entry.label}'s bulk action"
    if not isinstance(reported, Mapping):
        raise TypeError(
            f"{method} returned {type(reported).__name__}; it must return None or a mapping "
            "of the failed rows' primary keys to their exceptions"
        )
    failures = {}
    for pk, error in reported.items():
        if not isinstance(error, BaseException):
            raise TypeError(
                f"{method} reported {error!r} for pk={pk!r}; each failed row maps to the "
                "exception it failed with"
            )
        failures[str(pk.pk if isinstance(pk, Model) else pk)] = error
    return failures


def _record(engine: Backend, entry: RegisteredTrigger, outcome: _Chunk) -> None:
    """Every job's outcome, in the chunk's transaction: the completed ones in one
    statement, the others one by one, with the rules of a single job's attempt."""
    engine.complete_all([runner.job for runner in outcome.done])
    for runner in outcome.gone:
        reason = (
            f"trigger no longer applies: {entry.label} pk={runner.job.object_pk} is gone or "
            "no longer matches `where`"
        )
        record(engine, runner.job, Cancelled(reason), runner)
    for runner, error in outcome.failed:
        retry = runner.retry_strategy.decide(runner.context(error=error))
        record(engine, runner.job, decide(engine, runner, classify(error, retry)), runner)
