"""Failed-login throttling for the app's login form (an ASGI middleware, no Gradio in it).

Gradio's login route checks a password as often as it is asked (thousands of guesses
a second). This middleware counts failed POSTs to `.../login` per client address and
answers 429, with the seconds to wait, once `max_failures` failed within `window_s`.
A successful login clears the count. Behind a tunnel or proxy every client shares
one address, so the limit then holds for all of them together.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any, Callable

from .asgi import Receive, Scope, Send, call_for_status, client_address, is_post_to, reply


class LoginThrottle:
    def __init__(
        self, app: Any, max_failures: int = 10, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_post_to(scope, "/login"):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        wait = self._wait(client)
        if wait > 0:
            await reply(send, 429, f"Too many failed logins from this address; try again in {wait} s.",
                        [(b"retry-after", str(wait).encode())])
            return
        code = await call_for_status(self.app, scope, receive, send)
        self._record(client, code < 400)

    def _wait(self, client: str) -> int:
        """Seconds this client must wait before trying again (0: it may try)."""
        now = self.clock()
        with self._lock:
            failures = self._failures.get(client)
            while failures and now - failures[0] >= self.window_s:
                failures.popleft()
            if not failures or len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(self.window_s - (now - failures[0])))

    def _record(self, client: str, succeeded: bool) -> None:
        with self._lock:
            if succeeded:
                self._failures.pop(client, None)
            else:
                self._failures.setdefault(client, deque()).append(self.clock())
