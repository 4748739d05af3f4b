"""``python manage.py serve`` (what ``make run`` calls): the whole server in one command.

Migrates, collects static files, applies the demo provisioning file, prints how to call the
API and log in, then runs gunicorn, a Celery worker and Celery beat as child processes until
Ctrl-C (or SIGTERM), which stops all of them. If the embedded PostgreSQL or the embedded Redis
was started by this command it is stopped too; one that was already running (e.g. for a test
run) is left alone.
If any child dies, the others are stopped and the command exits non-zero.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigner import embedded, embedded_broker
from campaigner.models import Allocation
from campaigner.startup import broker_started_here, prepare

STOP_GRACE_S = 15


class Command(BaseCommand):
    help = "Migrate, provision the demo and serve the API, admin, Celery worker and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="gunicorn bind address")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument(
            "--provision",
            type=Path,
            default=settings.DEMO_PROVISION_FILE,
            help="provisioning file to apply first",
        )

    def handle(self, *args: Any, bind: str, workers: int, provision: Path, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("provision", str(provision))
        self.print_banner(bind, provision)

        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "campaigner.wsgi:application",
                "--config",
                "python:campaigner.gunicorn_conf",
                "--bind",
                bind,
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "campaigner",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "campaigner",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        metrics_dir = settings.DATA_DIR / "prometheus"  # see campaigner/metrics.py
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = {
            "ACTION_WEBHOOK_ALLOW_PRIVATE": "1",  # the demo's webhook receiver may be local
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        children = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env)  # noqa: S603 (our argv)
            for name, cmd in commands.items()
        }
        stopping = False

        def on_signal(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        failed = None
        try:
            while not stopping and failed is None:
                time.sleep(0.5)
                failed = next((n for n, p in children.items() if p.poll() is not None), None)
        finally:
            self.stop(children)
            self.stop_embedded_database()
            if settings.EMBEDDED_BROKER_DIR is not None and broker_started_here():
                embedded_broker.stop(settings.EMBEDDED_BROKER_DIR)
                self.stdout.write("Stopped the embedded Redis.")
        if failed is not None and not stopping:
            raise CommandError(f"{failed} exited with code {children[failed].returncode}")

    def stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_GRACE_S} s; killing it")
                process.kill()
                process.wait()
        self.stdout.write("Stopped web, worker and beat.")

    def stop_embedded_database(self) -> None:
        db = prepare()  # what manage.py set up: the embedded server, if there is one
        if db is not None and db.started_here:
            embedded.stop(settings.DATA_DIR)
            self.stdout.write("Stopped the embedded PostgreSQL.")

    def print_banner(self, bind: str, provision: Path) -> None:
        spec = json.loads(provision.read_text(encoding="utf-8"))
        keys = [k for k in spec.get("api_keys", []) if not k.get("team") and not k.get("revoked")]
        admins = [u for u in spec.get("users", []) if u.get("superuser") or u.get("staff")]
        base = f"http://{bind}"
        lines = ["", "Noojee Campaigner reference server", ""]
        if db := prepare():
            lines.append(f"  Database  embedded PostgreSQL in {db.pgdata}")
        else:
            lines.append(f"  Database  {settings.DATABASES['default']['HOST']}")
        lines.append(f"  Broker    {settings.CELERY_BROKER_URL}")
        lines.append(f"  Health    {base}/health")
        lines.append(f"  Admin     {base}/admin/")
        if admins:
            lines.append(f"  Login     {admins[0]['username']} / {admins[0].get('password', '')}")
        if keys:
            key = keys[0]["key"]
            ids = self.demo_ids()
            lines.append(f"  API key   {key}")
            if ids:
                query = (
                    f"fTemplateId={ids[0]}&fCampaignId={ids[1]}&fAllocationId={ids[2]}&apiKey={key}"
                )
                body = json.dumps({"Name": "Jane Smith", "FirstPhone": "0383218199"})
                url = f"{base}/servicemanager/rest/CampaignAPI/insertLeadFast?{query}"
                lines += [
                    "",
                    "  Insert a lead:",
                    "  curl -s -X POST -H 'Content-Type: application/json' \\",
                    f"    -d {shlex.quote(body)} \\",
                    f"    {shlex.quote(url)}",
                ]
        tokens = [u["api_token"] for u in admins if u.get("api_token")]
        if tokens and (ids := self.demo_ids()):
            url = f"{base}/api/v1/dialer/campaigns/{ids[1]}/next-lead"
            lines += [
                "",
                "  Next lead to dial (inside Contact Hours; the cache is rebuilt every"
                f" {settings.DIALER_REFRESH_SECONDS} s):",
                f"  curl -s -X POST -H {shlex.quote('Authorization: Bearer ' + tokens[0])} \\",
                f"    {shlex.quote(url)}",
            ]
        lines += ["", "  Ctrl-C stops everything.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    @staticmethod
    def demo_ids() -> tuple[int, int, int] | None:
        allocation = Allocation.objects.select_related("campaign").order_by("id").first()
        if allocation is None:
            return None
        return allocation.campaign.template_id, allocation.campaign_id, allocation.pk
