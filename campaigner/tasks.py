"""Celery tasks of the campaigner app: thin interfaces over its services."""

from __future__ import annotations

from celery import shared_task

from campaigner.idempotency import answers_expire


@shared_task(ignore_result=True)
def answers_expire_task() -> int:
    """Delete the expired answers of calls with an Idempotency-Key (beat, hourly)."""
    return answers_expire()
