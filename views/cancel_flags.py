"""Per-session "stop after this chunk" flags for long generator events.

Gradio's own `cancels=` kills the event's task from the browser while the
Cancel button's message travels separately, so a progress update already on its
way could land after "Cancelled" and leave a stalled "⏳ Predicted 96 of 3,000"
on screen. With a flag the generator itself notices the request between chunks
and writes the last status line, so the messages arrive in order.
"""
from __future__ import annotations

import threading


class CancelFlags:
    """One flag per key (a Gradio session hash); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    def begin(self, key: str) -> threading.Event:
        """A fresh flag for a run starting under `key` (a previous run's flag is dropped)."""
        flag = threading.Event()
        with self._lock:
            self._flags[key] = flag
        return flag

    def cancel(self, key: str) -> bool:
        """Ask the run under `key` to stop; False when none is running."""
        with self._lock:
            flag = self._flags.get(key)
        if flag is None:
            return False
        flag.set()
        return True

    def end(self, key: str, flag: threading.Event) -> None:
        """Forget `flag` once its run is over (unless a newer run replaced it)."""
        with self._lock:
            if self._flags.get(key) is flag:
                del self._flags[key]
