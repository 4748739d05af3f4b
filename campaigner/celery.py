"""The Celery app (``campaigner.celery:app``), configured from Django settings (``CELERY_*``)."""

import os
from typing import Any

from celery import Celery, signals

from campaigner.startup import prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaigner.settings")

app = Celery("campaigner")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _prepare(**kwargs: Any) -> None:
    """A worker or beat sets up the embedded database and broker folders before it starts (a
    worker before it forks its pool, so the children inherit the settings)."""
    prepare()
