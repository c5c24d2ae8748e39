"""The ``jiayuan`` command: every management command of the project through one entry point.

``jiayuan demo-data --scale small`` is ``manage.py demo-data --scale small``.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiayuan.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["jiayuan", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
