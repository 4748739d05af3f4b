"""``python manage.py provision FILE``: apply a provisioning file (domain.md §7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leads.provisioning import ProvisionError, provision_apply


class Command(BaseCommand):
    help = "Create or update templates, campaigns, users, DNC and API keys from a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            spec = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"{file} is not valid JSON: {exc}") from exc
        try:
            report = provision_apply(spec, demo=file.resolve() == settings.DEMO_PROVISION_FILE)
        except ProvisionError as exc:
            raise CommandError(f"{file}: nothing was changed. {exc}") from exc
        self.stdout.write(report.summary())
