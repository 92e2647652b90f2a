"""Python's cyclic garbage collector, tuned while a phase builds a heap that only grows.

Recording a program (every resource, Output and task lives to the end) and reading a folder
of manifests (every document lives to the end) allocate millions of objects and free almost
none. At the default threshold, 700, the collector runs thousands of times over that growing
heap, each older-generation pass scanning all of it, for nothing.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator

# Objects allocated (net) before a young-generation collection while such a phase runs.
GROWING_HEAP_THRESHOLD = 10000


@contextlib.contextmanager
def growing_heap() -> Iterator[None]:
    """Everything alive before is frozen out of the collector's scans and young collections run
    far less often. Afterwards the thresholds are restored and the frozen objects unfrozen, so a
    process that plans or audits several times (diff, review, parity) still collects what each
    run left behind."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GROWING_HEAP_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
