"""Settings, all read from the environment (domain.md §8).

Unset ``DATABASE_URL`` → an embedded PostgreSQL under ``CAMPAIGNER_DATA_DIR`` (default
``<checkout>/.data``). Unset ``CELERY_BROKER_URL`` → an embedded Redis on a unix socket in the
same folder (``campaigner.embedded_broker``; ``CAMPAIGNER_BROKER_DIR`` moves it), so worker and
beat run with no server to install.

Importing this module has no side effects: the entry points start the embedded server and make
the folders (``campaigner.startup.prepare``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import environ
import phonenumbers
from django.core.exceptions import ImproperlyConfigured

from campaigner import embedded_broker

BASE_DIR = Path(__file__).resolve().parent.parent
# What `make run` provisions; its admin token is shorter than provisioning otherwise allows.
DEMO_PROVISION_FILE = BASE_DIR / "campaigner" / "demo" / "provision.json"

env = environ.Env()

DATA_DIR = Path(env.str("CAMPAIGNER_DATA_DIR", default=str(BASE_DIR / ".data"))).resolve()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# --- Security -----------------------------------------------------------------------------
# DJANGO_SECURE=1 (set in the Docker image) turns on everything HTTPS behind a proxy needs;
# each setting can still be set on its own.
SECURE = env.bool("DJANGO_SECURE", default=False)
# Signs sessions and CSRF tokens. Only the embedded demo (no DATABASE_URL, not DJANGO_SECURE)
# may run on the public development key; anything else refuses to start without a real one.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if env.str("DATABASE_URL", default="") or SECURE:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set (a long random string) when DATABASE_URL or"
            " DJANGO_SECURE is set; only the embedded demo runs on the development key"
        )
    SECRET_KEY = "insecure-development-key-of-the-embedded-demo-only"  # noqa: S105
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SECURE)
# Load balancers and Prometheus ask over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=SECURE)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=SECURE)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=SECURE)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own).
if env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=SECURE):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # thousands separators on the dashboard
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the server itself
    "django_filters",
    "nested_admin",  # a disposition set's page: each disposition with its actions
    "axes",
    "campaigner",
    "leads",
    "dialer",
]

MIDDLEWARE = [
    "campaigner.api.servlet.ServletUrlsMiddleware",  # first: the path every other one reads
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login
]

ROOT_URLCONF = "campaigner.urls"
WSGI_APPLICATION = "campaigner.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    EMBEDDED_DATABASE_NAME = None
else:
    # The socket's folder is known once the server runs: campaigner.startup.prepare() sets HOST.
    EMBEDDED_DATABASE_NAME = env.str("CAMPAIGNER_DB_NAME", default="campaigner")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": EMBEDDED_DATABASE_NAME,
            "USER": "postgres",
            "HOST": "",
        }
    }
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Server-side binding, and prepared statements where the code asks for them
# (campaigner/sql.py; a threshold no statement reaches turns the automatic preparing off). They
# need a session per connection, like the rate limit's session locks: not for a
# transaction-pooling pgbouncer. DJANGO_DB_PREPARED_STATEMENTS=0 turns them off.
DATABASES["default"].setdefault("OPTIONS", {}).update(
    server_side_binding=True,
    prepare_threshold=2**31 if env.bool("DJANGO_DB_PREPARED_STATEMENTS", default=True) else None,
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -------------------------------------------------------------------------------
_broker_url = env.str("CELERY_BROKER_URL", default="")
# Unset: the embedded Redis in this folder, started by campaigner.startup.prepare().
EMBEDDED_BROKER_DIR: Path | None = None
CELERY_BROKER_URL = _broker_url
if not _broker_url:
    EMBEDDED_BROKER_DIR = Path(env.str("CAMPAIGNER_BROKER_DIR", default=str(DATA_DIR / "broker")))
    CELERY_BROKER_URL = embedded_broker.url(EMBEDDED_BROKER_DIR)
CELERY_TASK_ACKS_LATE = True
# Lets several deployments (or test runs) share one Redis without taking each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Every task is bounded: past the soft limit it is interrupted (SoftTimeLimitExceeded, its
# transaction rolled back), past the hard limit its worker process is replaced. A task that
# needs longer says so itself (a manual import: LEAD_IMPORT_TIME_LIMIT_S).
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT_S", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT_S", default=360)
# A whole import runs in one task (chunk by chunk, each committed); past this it stops after its
# last committed chunk and is marked failed with the reason (the rows before it are imported).
LEAD_IMPORT_TIME_LIMIT_S = env.int("LEAD_IMPORT_TIME_LIMIT_S", default=6 * 3600)

# --- CampaignAPI and dialer (domain.md §8) ------------------------------------------------
CAMPAIGNAPI_CONCURRENCY = env.int(
    "CAMPAIGNAPI_CONCURRENCY", default=max(1, (os.cpu_count() or 1) // 2)
)
CAMPAIGNAPI_MIN_CALL_MS = env.int("CAMPAIGNAPI_MIN_CALL_MS", default=100)
CAMPAIGNAPI_QUEUE_TIMEOUT_S = env.float("CAMPAIGNAPI_QUEUE_TIMEOUT_S", default=60)
CAMPAIGNAPI_BULK_QUEUE_TIMEOUT_S = env.float("CAMPAIGNAPI_BULK_QUEUE_TIMEOUT_S", default=600)
CAMPAIGNAPI_MAX_BODY_MB = env.int("CAMPAIGNAPI_MAX_BODY_MB", default=64)
# The lead write calls run on threads of their own in each server process (README "Serving"):
# this many per process (one more than the calls that may run at once, so a process always has
# a call ready at the gate), and at most this many more wait for one, in memory (109 past it).
CAMPAIGNAPI_WRITE_THREADS = env.int(
    "CAMPAIGNAPI_WRITE_THREADS", default=CAMPAIGNAPI_CONCURRENCY + 1
)
CAMPAIGNAPI_WRITE_QUEUE = env.int("CAMPAIGNAPI_WRITE_QUEUE", default=500)
# Wrong API keys from one client address: this many within the window locks it out for LOCK_S.
CAMPAIGNAPI_BAD_KEY_LIMIT = env.int("CAMPAIGNAPI_BAD_KEY_LIMIT", default=20)
CAMPAIGNAPI_BAD_KEY_WINDOW_S = env.int("CAMPAIGNAPI_BAD_KEY_WINDOW_S", default=60)
CAMPAIGNAPI_BAD_KEY_LOCK_S = env.int("CAMPAIGNAPI_BAD_KEY_LOCK_S", default=300)
# Safe retries (campaigner.idempotency): how long the answer of a call with an Idempotency-Key
# is kept, and how long a second call with a key waits for the first one's transaction to end
# before it is told to retry (409, code 154).
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
IDEMPOTENCY_WAIT_S = env.float("IDEMPOTENCY_WAIT_S", default=10)
DIALER_REFRESH_SECONDS = env.int("DIALER_REFRESH_SECONDS", default=120)
DIALER_CACHE_SIZE = env.int("DIALER_CACHE_SIZE", default=1000)
DIALER_CHECKOUT_SECONDS = env.int("DIALER_CHECKOUT_SECONDS", default=180)

_SWEEP_SECONDS = env.float("ACTION_SWEEP_SECONDS", default=60)
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=60)
# The lead search's words index (leads.services.lead_words): how often beat brings it up to date,
# and how many lead ids (and as many change ids) one run takes at most.
LEAD_WORDS_SECONDS = env.int("LEAD_WORDS_SECONDS", default=60)
LEAD_WORDS_BATCH = env.int("LEAD_WORDS_BATCH", default=200_000)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "dialer-cache-refresh": {
        "task": "dialer.tasks.dialer_cache_refresh_all_task",
        "schedule": DIALER_REFRESH_SECONDS,
        # A rebuild that could not run in its period is superseded by the next one.
        "options": {"expires": DIALER_REFRESH_SECONDS},
    },
    # Webhook/email deliveries whose queued task was lost (broker down at commit, worker
    # killed) are queued again once due.
    "action-deliveries-due": {
        "task": "leads.tasks.action_deliveries_due_task",
        "schedule": _SWEEP_SECONDS,
        # After an outage a backlog of sweeps would only queue the same deliveries again.
        "options": {"expires": _SWEEP_SECONDS},
    },
    # The admin dashboard's figures (dialer.stats).
    "campaign-stats-refresh": {
        "task": "dialer.tasks.campaign_stats_refresh_task",
        "schedule": DASHBOARD_REFRESH_SECONDS,
        "options": {"expires": DASHBOARD_REFRESH_SECONDS},
    },
    # Manual imports whose worker died (or whose task was lost) are queued again and resume.
    "lead-imports-recover": {
        "task": "leads.tasks.lead_imports_recover_task",
        "schedule": _SWEEP_SECONDS,
        "options": {"expires": _SWEEP_SECONDS},
    },
    # Bulk jobs likewise: queued again, and resumed after their last committed chunk.
    "lead-jobs-recover": {
        "task": "leads.tasks.lead_jobs_recover_task",
        "schedule": _SWEEP_SECONDS,
        "options": {"expires": _SWEEP_SECONDS},
    },
    # The lead search's words of the leads inserted or changed since (leads.services.lead_words).
    "lead-words-refresh": {
        "task": "leads.tasks.lead_words_refresh_task",
        "schedule": LEAD_WORDS_SECONDS,
        "options": {"expires": LEAD_WORDS_SECONDS},
    },
    # Kept answers of calls with an Idempotency-Key, past IDEMPOTENCY_KEY_HOURS.
    "idempotent-answers-expire": {
        "task": "campaigner.tasks.answers_expire_task",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
}

# Django's own request-size guard must not undercut the CampaignAPI limit, which answers 413/152.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

# --- Auth, i18n, static -------------------------------------------------------------------
# Admin logins are throttled by django-axes: after AXES_FAILURE_LIMIT wrong passwords for one
# user from one address, that pair is locked out for AXES_COOLOFF_MINUTES (answered 429), while
# the same user from elsewhere and other users from there can still log in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-au"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "campaigner.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "campaigner.api.renderers.ManagementJsonRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Noojee Campaigner reference server",
    "DESCRIPTION": "The CampaignAPI of Noojee Campaigner (lead inserts and updates, the "
    "template, campaign and allocation lists) and the management API under /api/v1/ "
    "(configuration, the DNC list, leads, deliveries and the dialer).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",  # tags by resource: templates, dnc, dialer, …
    "TAGS": [
        {
            "name": "CampaignAPI",
            "description": "The vendor's API: apiKey in the query string "
            "(or X-Api-Key), answers in the {code, message} envelope",
        },
        {"name": "dialer", "description": "Next lead, call outcome, the cache"},
        {"name": "leads", "description": "Read and search leads; why a lead is (not) dialable"},
        {"name": "templates"},
        {"name": "campaigns"},
        {"name": "allocations"},
        {"name": "contact-hours"},
        {"name": "disposition-sets"},
        {"name": "dnc"},
        {"name": "phone-patterns"},
        {"name": "api-keys"},
        {"name": "deliveries"},
        {"name": "jobs", "description": "Bulk work over leads, run in the background"},
    ],
    # Choice sets that share a field name get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "LeadJobKindEnum": "leads.models.LeadJob.Kind",
        "LeadJobStatusEnum": "leads.models.LeadJob.Status",
        "LeadChangeKindEnum": "leads.models.LeadChange.Kind",
    },
    "PREPROCESSING_HOOKS": ["campaigner.api.schema.paths_as_served"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "campaigner.api.schema.management_errors",
    ],
    # The CampaignAPI's key (campaigner.api.campaignapi_schema names them per call).
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "apiKey"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        }
    },
}
# Phone numbers (leads/phone.py): read in this region's numbering plan and compared in E.164
# ("" reads none: numbers are compared as cleaned); handed to the dialer in national form
# ("0393812222", other countries with the international prefix) or as E.164 ("e164").
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="AU").strip().upper()
if PHONE_DEFAULT_REGION and PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(f"PHONE_DEFAULT_REGION {PHONE_DEFAULT_REGION!r} is no region code")
PHONE_DIAL_FORMAT = env.str("PHONE_DIAL_FORMAT", default="national").strip().lower()
if PHONE_DIAL_FORMAT not in {"national", "e164"}:
    raise ImproperlyConfigured("PHONE_DIAL_FORMAT must be 'national' or 'e164'")
# A DNC file of /api/v1/dnc/upload is read whole (one transaction): 1,000,000 numbers ≈ 15 MB.
DNC_UPLOAD_MAX_BYTES = env.int("DNC_UPLOAD_MAX_MB", default=64) * 1024 * 1024
# Manual lead imports (domain.md §5.3): the largest file accepted, and how many rows each of
# an import's transactions writes (its progress is committed with them).
LEAD_IMPORT_MAX_BYTES = env.int("LEAD_IMPORT_MAX_MB", default=1024) * 1024 * 1024
LEAD_IMPORT_CHUNK_ROWS = env.int("LEAD_IMPORT_CHUNK_ROWS", default=50_000)
# A draft import (its file stored, its mapping not yet run) left this long is discarded.
LEAD_IMPORT_DRAFT_HOURS = env.int("LEAD_IMPORT_DRAFT_HOURS", default=72)
# Bulk jobs (leads.services.lead_job): leads per transaction (the longest any lead of the job
# is locked), and the longest a job may run.
LEAD_JOB_CHUNK = env.int("LEAD_JOB_CHUNK", default=10_000)
LEAD_JOB_TIME_LIMIT_S = env.int("LEAD_JOB_TIME_LIMIT_S", default=6 * 3600)
# The key of the erased numbers' hashes (ErasedNumber): a keyed hash, so the tombstones do not
# give the numbers back to whoever reads the table. Changing it forgets every erasure.
ERASURE_KEY = env.str("ERASURE_KEY", default=SECRET_KEY)

# --- Reading requests (campaigner.gunicorn_worker) ---------------------------------------
# A request head must arrive within HEAD_TIMEOUT_S of its first byte; a body, once GRACE_S
# have passed, at BODY_MIN_RATE bytes/s on average. Slower clients are closed (408). Bodies
# wait for a thread in memory up to SPOOL_BYTES, on disk past it; a body over the largest any
# view accepts is not read. An answer's writes give up after SEND_TIMEOUT_S.
SERVER_HEAD_TIMEOUT_S = env.float("SERVER_HEAD_TIMEOUT_S", default=5)
SERVER_BODY_GRACE_S = env.float("SERVER_BODY_GRACE_S", default=10)
SERVER_BODY_MIN_RATE = env.int("SERVER_BODY_MIN_RATE", default=16 * 1024)
SERVER_SEND_TIMEOUT_S = env.float("SERVER_SEND_TIMEOUT_S", default=60)
SERVER_SPOOL_BYTES = 256 * 1024
SERVER_MAX_BODY_BYTES = (
    max(CAMPAIGNAPI_MAX_BODY_MB * 1024 * 1024, DNC_UPLOAD_MAX_BYTES, LEAD_IMPORT_MAX_BYTES)
    + 1024 * 1024
)  # a multipart upload's own framing

EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="campaigner@localhost")

# Webhook and email actions (campaignapi.md §6): attempt n waits BASE * 2**(n-1) seconds after
# the previous one (capped at an hour); after MAX attempts the delivery is marked failed.
ACTION_MAX_ATTEMPTS = env.int("ACTION_MAX_ATTEMPTS", default=8)
ACTION_RETRY_BASE_SECONDS = env.float("ACTION_RETRY_BASE_SECONDS", default=30)
ACTION_WEBHOOK_TIMEOUT_S = env.float("ACTION_WEBHOOK_TIMEOUT_S", default=10)
# Webhooks go to public addresses only, unless this allows loopback and private ranges too
# (a webhook receiver on the same machine or network: the demo of make run, the tests).
ACTION_WEBHOOK_ALLOW_PRIVATE = env.bool("ACTION_WEBHOOK_ALLOW_PRIVATE", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
