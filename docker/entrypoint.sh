#!/bin/sh
# One image, several roles: web | worker | beat | migrate | provision FILE | any command.
set -e
case "$1" in
  web)
    # /metrics adds up every worker's samples from here (campaigner/metrics.py).
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec gunicorn campaigner.wsgi:application --config python:campaigner.gunicorn_conf \
      --bind 0.0.0.0:8000 --workers "${WEB_WORKERS:-4}" --threads "${WEB_THREADS:-4}" \
      --access-logfile - ;;
  worker)
    exec celery -A campaigner worker --loglevel INFO --concurrency "${WORKER_CONCURRENCY:-4}" ;;
  beat)
    # Run exactly one beat per deployment.
    exec celery -A campaigner beat --loglevel INFO --schedule /app/.data/celerybeat-schedule ;;
  migrate)
    exec python manage.py migrate --noinput ;;
  provision)
    shift; exec python manage.py provision "$@" ;;
  *)
    exec "$@" ;;
esac
