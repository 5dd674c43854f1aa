"""UMAP warm-up at app start, so the Alignment tab never sits silently on numba's compile.

A fresh installation compiles umap-learn's kernels once (about half a minute on two
cores; later starts load them from <xsent home>/numba in a few seconds). The app
starts that work in a background thread as soon as its services exist; a draw that
needs UMAP before it has finished waits for it behind a progress message, then runs
on the compiled kernels, so its answer is the same as without a warm-up.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable

WARMUP_KEY = "umap_warmup"  # services.extras entry: the warm-up thread of this app
WAIT_MESSAGE = "Preparing UMAP: compiled once per installation (about half a minute the first time)…"


def start_umap_warmup(
    services: Any, warm_up: Callable[[], object] | None = None, after: threading.Thread | None = None
) -> threading.Thread | None:
    """Start warming UMAP up in a daemon thread (once per app) and return it; None when
    XSENT_UMAP_WARMUP=0 turns it off. `warm_up` replaces the real work in tests; the
    thread first waits for `after` (another start-up job) when given."""
    from xsent_core.numba_cache import use_numba_cache

    use_numba_cache()  # before any numba import; the app's job processes inherit it too
    if os.environ.get("XSENT_UMAP_WARMUP", "1").strip() == "0":
        return None
    running = services.extras.get(WARMUP_KEY)
    if running is not None:
        return running
    if warm_up is None:
        from xsent_core.alignment import warm_up_umap as warm_up

    def run() -> None:
        if after is not None:  # e.g. the first model's preload: the first prediction matters more
            after.join()
        try:
            warm_up()
        except Exception as e:  # noqa: BLE001 - a draw then compiles by itself: slower, still right
            print(f"UMAP warm-up failed ({type(e).__name__}: {e}); the first UMAP draw compiles instead", file=sys.stderr)

    thread = threading.Thread(target=run, name="umap-warmup", daemon=True)
    services.extras[WARMUP_KEY] = thread
    thread.start()
    return thread


def wait_for_umap_warmup(services: Any, progress: Callable[..., object]) -> float:
    """Block until the app's warm-up has finished, saying why through `progress`
    (a gr.Progress); the seconds waited, 0 when there was nothing to wait for."""
    thread = services.extras.get(WARMUP_KEY)
    if thread is None or not thread.is_alive():
        return 0.0
    progress(0.0, desc=WAIT_MESSAGE)  # the reason shows with the bar (a step tuple shows only "0 steps")
    started = time.perf_counter()
    thread.join()
    return time.perf_counter() - started
