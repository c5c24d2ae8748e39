#!/usr/bin/env python
"""Django's manage.py; the ``jiayuan`` console script does the same."""

from jiayuan.cli import main

if __name__ == "__main__":
    main()
