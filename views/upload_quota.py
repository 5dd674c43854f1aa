"""Per-user upload quota for the app (an ASGI middleware, no Gradio in it).

Gradio accepts any number of uploads of up to --max-upload-mb each, and keeps
them in its temporary folder. This middleware counts the bytes each user (the
logged-in name, else the client address) uploaded within `window_s` and answers
413 with the reason when a new upload would pass `quota_bytes`. Uploads Gradio
refuses do not count. With the app's cache cleaning (files older than the same
window are deleted), what one user holds in the temporary folder stays bounded.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any, Callable

from .asgi import Receive, Scope, Send, call_for_status, client_address, header, is_post_to, logged_in_user, reply


class UploadQuota:
    def __init__(self, app: Any, quota_bytes: int, window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.quota_bytes = quota_bytes
        self.window_s = window_s
        self.clock = clock
        self._uploads: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_post_to(scope, "/upload"):
            await self.app(scope, receive, send)
            return
        length = header(scope, b"content-length")
        if length is None or not length.isdigit():
            # without a declared size the quota could only be checked after the bytes arrived
            await reply(send, 411, "Uploads must declare their size (Content-Length).", plain=True)
            return
        user = logged_in_user(scope) or f"address {client_address(scope)}"
        refusal = self._reserve(user, int(length))
        if refusal:
            await reply(send, 413, refusal, plain=True)
            return
        code = 500
        try:
            code = await call_for_status(self.app, scope, receive, send)
        finally:
            if code >= 400:  # refused or failed: the bytes are not kept, so they do not count
                self._release(user, int(length))

    def _reserve(self, user: str, size: int) -> str | None:
        """Count `size` for `user`, or say why not (None: counted)."""
        now = self.clock()
        with self._lock:
            uploads = self._uploads.setdefault(user, deque())
            while uploads and now - uploads[0][0] >= self.window_s:
                uploads.popleft()
            used = sum(n for _, n in uploads)
            quota = f"{self.quota_bytes / 2**20:.0f} MB per user every {self.window_s / 60:.0f} min"
            if size > self.quota_bytes:
                return f"Upload refused: {size / 2**20:.1f} MB is more than the upload quota ({quota}); use the CLI for big files."
            if used + size > self.quota_bytes:
                wait = math.ceil((self.window_s - (now - uploads[0][0])) / 60) if uploads else math.ceil(self.window_s / 60)
                return (
                    f"Upload quota reached: at most {quota} ({used / 2**20:.1f} MB used, this upload "
                    f"{size / 2**20:.1f} MB); "
                    f"try again in {wait} min or use the CLI for big files."
                )
            uploads.append((now, size))
            return None

    def _release(self, user: str, size: int) -> None:
        with self._lock:
            uploads = self._uploads.get(user)
            for i in range(len(uploads or ()) - 1, -1, -1):
                if uploads[i][1] == size:
                    del uploads[i]
                    return
