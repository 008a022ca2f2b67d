"""The bench process's own garbage collector, kept out of timed windows."""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Move what the bench holds so far out of the collector's reach while a window is timed.

    The bench sends the requests and stamps the receipts it times. By the subscription phases
    its heap holds the earlier phases' rows, clients and results, and one full collection of
    it stopped the bench's event loop for 168 ms (`gc.callbacks`, seen on 2026-12-07): no
    write-off went out on time and no receipt was stamped, and that pause alone was the
    system's send→ws p99. Objects made during the window are still collected; the frozen
    ones return to the oldest generation afterwards."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
