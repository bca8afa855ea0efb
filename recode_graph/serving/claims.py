"""Run leases per claim: only the copy of a run that holds its lease may end it.

Aegra 0.11 names a run's lease after the worker loop that claimed it (``{host}-{pid}-worker-{n}``), and its
``finalize_run`` does not look at the lease. After a lease expires (a Postgres outage longer than the lease, a
stalled process), the run is queued again and taken by another copy while the first one may still be running:

- when the same worker loop takes it back, both copies share one name, so the first copy's heartbeat keeps
  renewing the second one's lease (it is never cancelled) and its release clears the second one's claim;
- either copy can then mark the run ``success`` while the other is behind it: seen once as a run ended with
  ``success`` whose thread's newest checkpoint still had a step to run (docs/serving.md).

And a copy whose end could not be recorded (Postgres was out of reach when it tried) released its lease anyway:
the run stayed ``running`` with no lease, which no reaper looks at again (seen in the Postgres-outage test: two
of four runs ``running`` for good). Here such a copy leaves its lease expired instead, so the reaper queues the
run again at its next look, as after a dead process.

Here every claim gets a name of its own (the worker loop's name plus a random suffix, so the process id stays
readable in ``runs.claimed_by``), and ending a run first checks that the claim still holds the lease. A copy
that lost it ends as Aegra ends a copy whose heartbeat found the lease gone: not finalized, the run left to
the holder (or to the lease reaper once the holder's lease runs out).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

CLAIM: ContextVar[str | None] = ContextVar("recode_run_claim", default=None)
"""The lease name of the run the current task executes (set by ``per_claim``; inherited by its tasks)."""

Finalize = Callable[..., Awaitable[bool]]
Holder = Callable[[str], Awaitable[tuple[str | None, str | None]]]  # run id -> (status, claimed_by)


def claim_name(worker_name: str) -> str:
    return f"{worker_name}-{uuid.uuid4().hex[:8]}"


def per_claim(execute_and_release: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Wraps ``WorkerExecutor._execute_and_release(self, run_id, worker_name, semaphore)``: the run's lease,
    heartbeat and release use a name of this claim only."""

    async def run_claimed(self: Any, run_id: str, worker_name: str, semaphore: Any) -> None:
        claim = claim_name(worker_name)
        CLAIM.set(claim)  # this task's context; the lease and job tasks it creates copy it
        await execute_and_release(self, run_id, claim, semaphore)

    return run_claimed


def holder_only(finalize: Finalize, holder: Holder, lost: set[str], active: frozenset[str]) -> Finalize:
    """Wraps ``finalize_run``: a copy whose claim no longer holds the run's lease while the run is still active
    (another copy holds it, or the reaper queued it again) does not end it. It is cancelled as on a lease loss
    (``lost``: Aegra's set of such runs; their copy skips finalizing and the stream clean-up), so the holder's
    result is the run's. Calls outside a claimed run (a cancel, a timeout) pass through."""

    async def finalize_run(run_id: str, thread_id: str, **kwargs: Any) -> bool:
        claim = CLAIM.get()
        if claim is not None:
            status, claimed_by = await holder(run_id)
            if claimed_by != claim and status in active:
                logger.warning("run %s: lease of %s lost before the run ended (now %s); not finalizing",
                               run_id, claim, claimed_by or "queued again")
                lost.add(run_id)
                raise asyncio.CancelledError(f"lease of run {run_id} lost before the run ended")
        return await finalize(run_id, thread_id, **kwargs)

    return finalize_run


async def run_holder(run_id: str) -> tuple[str | None, str | None]:
    """(status, claimed_by) of a run, from Aegra's database."""
    from aegra_api.core.orm import Run, _get_session_maker
    from sqlalchemy import select

    async with _get_session_maker()() as session:
        row = (await session.execute(select(Run.status, Run.claimed_by).where(Run.run_id == run_id))).first()
    return (row[0], row[1]) if row else (None, None)


def releasing(active: frozenset[str]) -> Callable[[str, str], Awaitable[None]]:
    """Replaces ``worker_executor._release_lease(run_id, worker_name)`` (called when a copy is done with a run):
    an ended run's lease is cleared as Aegra does; a run still active under this claim (its end was not
    recorded) keeps the claim with a lease that has run out, for the reaper."""

    async def release_lease(run_id: str, worker_name: str) -> None:
        from aegra_api.core.orm import Run, _get_session_maker
        from sqlalchemy import update

        mine = (Run.run_id == run_id, Run.claimed_by == worker_name)
        async with _get_session_maker()() as session:
            expired = await session.execute(update(Run).where(*mine, Run.status.in_(active))
                                            .values(lease_expires_at=datetime.now(UTC)))
            if expired.rowcount:  # type: ignore[attr-defined]
                logger.warning("run %s ended under %s without its end recorded; left to the lease reaper",
                               run_id, worker_name)
            await session.execute(update(Run).where(*mine, Run.status.not_in(active))
                                  .values(claimed_by=None, lease_expires_at=None))
            await session.commit()

    return release_lease
