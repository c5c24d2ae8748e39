"""Getting a server process ready before its first request (``jiayuan/wsgi.py`` calls
``prepare_process()`` once per process, after Django is set up).

1. The category model (``route train``) is loaded now, when there is one, so that the first
   ticket a worker receives does not wait for it.
2. Everything loaded so far — Django, the URL map, the model, jieba's dictionary — is moved out
   of the garbage collector's sight with ``gc.freeze()``: it lives as long as the process, and a
   full collection walked all of it again (about 0.2 s a time in a worker with the model loaded;
   31 ms frozen, measured in-process).
3. Young objects are collected every ``JIAYUAN_GC_GEN0`` allocations (default 50,000; Python's
   700 made a collection every few requests). A request's garbage is mostly freed by reference
   counting; the collector is for cycles, and a larger first generation finds them as surely.

``JIAYUAN_GC_FREEZE=0`` turns 2 and 3 off. Figures: ``bench/bench_intake.py`` in
``docs/benchmarks.md``.
"""

from __future__ import annotations

import gc
import logging
import os

logger = logging.getLogger(__name__)

GEN0_DEFAULT = 50_000


def prepare_process() -> None:
    try:
        from jiayuan.routing.classifier import current_model

        current_model()
    except Exception as exc:  # no model trained yet, or an unreadable one: intake copes
        logger.info("category model not preloaded: %s", exc)
    if os.environ.get("JIAYUAN_GC_FREEZE", "1") == "0":
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(int(os.environ.get("JIAYUAN_GC_GEN0", GEN0_DEFAULT)), gen1, gen2)
