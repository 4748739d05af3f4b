"""``/metrics``: Prometheus metrics of every process of the server (domain.md §6).

Under gunicorn with several workers (and for Celery), each process writes its samples to files
in ``PROMETHEUS_MULTIPROC_DIR`` (``manage.py serve`` sets it to ``<data dir>/prometheus``,
cleared at start; ``campaigner/gunicorn_conf.py`` drops a dead worker's files), and this view
adds them up. Without that variable it serves this process's own registry.

Metrics: ``campaignapi_calls_total{method,code}``, ``campaignapi_leads_inserted_total``,
``campaignapi_queue_length``, ``campaignapi_queue_wait_seconds``,
``campaignapi_queue_timeouts_total`` and ``dialer_cache_rebuild_seconds``.
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)

CALLS = Counter("campaignapi_calls", "CampaignAPI calls answered", ["method", "code"])
LEADS_INSERTED = Counter("campaignapi_leads_inserted", "Leads inserted by the insert service")


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
