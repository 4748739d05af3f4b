"""Celery tasks of the leads app: thin interfaces over ``leads.services.delivery`` and
``leads.services.lead_import``."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from leads.services import lead_job
from leads.services.delivery import SEND_TASK, action_delivery_attempt, deliveries_due
from leads.services.lead_import import RUN_TASK, lead_import_run, lead_imports_recover
from leads.services.lead_words import lead_words_refresh

# The sweeper queues at most this many due deliveries per run (one small message each).
SWEEP_BATCH = 500


@shared_task(name=SEND_TASK, ignore_result=True)
def action_delivery_send_task(delivery_id: int) -> str:
    """One attempt; on failure, queue the next one after its backoff."""
    result = action_delivery_attempt(delivery_id)
    if result is None:
        return "skipped"
    if result.retry_in is not None:
        action_delivery_send_task.apply_async((delivery_id,), countdown=result.retry_in)
    return result.status


@shared_task(ignore_result=True)
def action_deliveries_due_task() -> int:
    """Queue every unfinished delivery that is due (beat, every ``ACTION_SWEEP_SECONDS``)."""
    ids = list(deliveries_due().values_list("pk", flat=True)[:SWEEP_BATCH])
    for delivery_id in ids:
        action_delivery_send_task.delay(delivery_id)
    return len(ids)


@shared_task(
    name=RUN_TASK,
    ignore_result=True,
    soft_time_limit=settings.LEAD_IMPORT_TIME_LIMIT_S,
    time_limit=settings.LEAD_IMPORT_TIME_LIMIT_S + 60,
)
def lead_import_run_task(import_id: int) -> str:
    """Run or resume a manual import (queued by ``lead_import_create`` and the sweeper)."""
    return lead_import_run(import_id)


@shared_task(ignore_result=True)
def lead_imports_recover_task() -> int:
    """Queue again the imports that lost their worker (beat, every ``ACTION_SWEEP_SECONDS``)."""
    return len(lead_imports_recover())


@shared_task(
    name=lead_job.RUN_TASK,
    ignore_result=True,
    soft_time_limit=settings.LEAD_JOB_TIME_LIMIT_S,
    time_limit=settings.LEAD_JOB_TIME_LIMIT_S + 60,
)
def lead_job_run_task(job_id: int) -> str:
    """Run or resume a bulk job (queued by ``lead_job_create`` and the sweeper)."""
    return lead_job.lead_job_run(job_id)


@shared_task(ignore_result=True)
def lead_jobs_recover_task() -> int:
    """Queue again the jobs that lost their worker (beat, every ``ACTION_SWEEP_SECONDS``)."""
    return len(lead_job.lead_jobs_recover())


@shared_task(ignore_result=True)
def lead_words_refresh_task() -> int:
    """The lead search's words of the leads inserted or changed lately (beat, every
    ``LEAD_WORDS_SECONDS``)."""
    done = lead_words_refresh()
    return done.leads + done.changed
