"""The application's own database connections, as settings.py configures them."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_postgresql_connections_run_without_parallel_workers():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone() == ("0",)


def test_the_parallel_workers_setting_comes_from_the_environment(monkeypatch):
    import importlib

    import jiayuan.settings as settings

    monkeypatch.setenv("JIAYUAN_DATABASE_URL", "postgres://u@127.0.0.1:5432/x?sslmode=disable")
    monkeypatch.setenv("JIAYUAN_PG_PARALLEL_WORKERS", "2")
    try:
        reloaded = importlib.reload(settings)
        options = reloaded.DATABASES["default"]["OPTIONS"]
        assert options["options"] == "-c max_parallel_workers_per_gather=2"
        assert options["sslmode"] == "disable"  # the URL's own options are kept
    finally:
        monkeypatch.undo()
        importlib.reload(settings)
