"""WSGI entry point: ``campaigner.wsgi:application``."""

import os
import sys

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaigner.settings")

from campaigner.startup import prepare

# A thread waiting for the database gets the interpreter back within 1 ms instead of 5 ms
# while another thread computes. A multi-lead insert reads leads in Python while its writer
# thread feeds COPY data to PostgreSQL; with the default the writer stalls behind the reading
# (the insert benchmark of ``make bench`` shows the difference).
sys.setswitchinterval(0.001)

prepare()
application = get_wsgi_application()
