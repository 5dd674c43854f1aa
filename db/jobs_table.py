"""Training jobs: the queue the app's runner reads, with progress and cancellation."""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from sqlite_utils import Database
from xsent_core.types import InputError

from db import codec
from db.connection import StoreConnection, process_alive, _check_page
from db.errors import NotFoundError, StoreError
from db.records import Job
from db.rows import _get_job
from db.schema import FINISHED_JOB_STATUSES, INTERRUPTED_MESSAGE, JOB_STATUSES


class JobRecords(StoreConnection):
    """Training jobs: the queue the app's runner reads, with progress and cancellation."""

    def create_job(self, kind: str, params: Mapping[str, Any] | None = None) -> Job:
        """Queue a job; a worker picks it up with `next_queued_job`."""
        if not kind:
            raise InputError("a job needs a kind")
        params_json = codec.to_json(dict(params or {}), f"{kind} job parameters")

        def tx(db: Database) -> Job:
            now = codec.now_iso()
            job_id = db["jobs"].insert(
                {"kind": kind, "status": "queued", "params_json": params_json, "created": now, "updated": now}
            ).last_pk
            return _get_job(db, int(job_id))

        return self._write("create_job", tx)

    def update_job(
        self,
        job_id: int,
        *,
        status: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        checkpoint: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        append_loss: tuple[int, float] | None = None,
    ) -> Job:
        """Change what is given; `metrics` are merged into the stored ones, `append_loss` appended.

        A finished job (succeeded, failed, cancelled) cannot change status again:
        StoreError (a worker finishing a job the user cancelled sees this).
        """
        if status is not None and status not in JOB_STATUSES:
            raise InputError(f"unknown job status {status!r}; expected one of {JOB_STATUSES}")
        if progress is not None:
            progress = float(progress)
            if not 0.0 <= progress <= 1.0:
                raise InputError(f"job progress must be between 0 and 1, got {progress}")
        if metrics is not None:
            codec.to_json(dict(metrics), "job metrics")  # fail before taking the lock
        loss_point: tuple[int, float] | None = None
        if append_loss is not None:
            step, loss = append_loss
            loss_point = (int(step), float(loss))

        def tx(db: Database) -> Job:
            job = _get_job(db, job_id)
            changes: dict[str, Any] = {"updated": codec.now_iso()}
            if status is not None and status != job.status:
                if job.status in FINISHED_JOB_STATUSES:
                    raise StoreError(f"job {job_id} is already {job.status}; it cannot become {status}")
                changes["status"] = status
            if progress is not None:
                changes["progress"] = progress
            if message is not None:
                changes["message"] = message
            if checkpoint is not None:
                changes["checkpoint"] = checkpoint
            if metrics is not None:
                changes["metrics_json"] = codec.to_json({**job.metrics, **metrics}, "job metrics")
            if loss_point is not None:
                history = [*map(list, job.loss_history), list(loss_point)]
                changes["loss_history_json"] = codec.to_json(history, "loss history")
            sets = ", ".join(f"{k} = :{k}" for k in changes)
            db.execute(f"UPDATE jobs SET {sets} WHERE id = :id", {**changes, "id": job_id})
            return _get_job(db, job_id)

        return self._write("update_job", tx)

    def cancel_job(self, job_id: int, message: str = "cancelled") -> Job:
        """Mark a queued or running job cancelled; a finished job is returned unchanged.

        The worker running it notices by checking `get_job(id).status`.
        """

        def tx(db: Database) -> Job:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', message = ?, updated = ? "
                "WHERE id = ? AND status IN ('queued', 'running')",
                [message, codec.now_iso(), job_id],
            )
            return _get_job(db, job_id)

        return self._write("cancel_job", tx)

    def get_job(self, job_id: int) -> Job:
        rows = self._read("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not rows:
            raise NotFoundError(f"job {job_id} is not in the store")
        return codec.job_from_row(rows[0])

    def list_jobs(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first."""
        if status is not None and status not in JOB_STATUSES:
            raise InputError(f"unknown job status {status!r}; expected one of {JOB_STATUSES}")
        _check_page(limit, offset)
        rows = self._read(
            "SELECT * FROM jobs WHERE (:status IS NULL OR status = :status) "
            "AND (:kind IS NULL OR kind = :kind) ORDER BY id DESC LIMIT :limit OFFSET :offset",
            {"status": status, "kind": kind, "limit": limit, "offset": offset},
        )
        return [codec.job_from_row(r) for r in rows]

    def next_queued_job(self, *, pid: int | None = None, kind: str | None = None) -> Job | None:
        """Claim the oldest queued job (of `kind`, if given): it becomes running with `pid` (default: ours).

        Atomic: two workers never claim the same job. None when nothing is queued.
        """
        owner = os.getpid() if pid is None else int(pid)

        def tx(db: Database) -> Job | None:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND (:kind IS NULL OR kind = :kind) "
                "ORDER BY id LIMIT 1",
                {"kind": kind},
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', pid = ?, updated = ? WHERE id = ?",
                [owner, codec.now_iso(), row[0]],
            )
            return _get_job(db, row[0])

        return self._write("next_queued_job", tx)

    def mark_stale_running_jobs_failed(self, alive: Callable[[int], bool] = process_alive) -> list[Job]:
        """At start-up: running jobs whose process is gone become failed, "interrupted (process ended)".

        Returns the jobs changed. `alive(pid)` is asked outside the transaction.
        """
        running = self._read("SELECT id, pid FROM jobs WHERE status = 'running'")
        dead = [(r["id"], r["pid"]) for r in running if r["pid"] is None or not alive(int(r["pid"]))]
        if not dead:
            return []

        def tx(db: Database) -> list[Job]:
            now = codec.now_iso()
            changed = []
            for job_id, pid in dead:
                cur = db.execute(
                    "UPDATE jobs SET status = 'failed', message = ?, updated = ? "
                    "WHERE id = ? AND status = 'running' AND pid IS ?",
                    [INTERRUPTED_MESSAGE, now, job_id, pid],
                )
                if cur.rowcount == 1:
                    changed.append(_get_job(db, job_id))
            return changed

        return self._write("mark_stale_running_jobs_failed", tx)
