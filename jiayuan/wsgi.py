"""WSGI entry point: ``gunicorn jiayuan.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiayuan.settings")
application = get_wsgi_application()

from jiayuan.core.startup import prepare_process  # noqa: E402 (needs Django set up)

prepare_process()
