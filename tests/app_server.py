"""Start `python app.py` on a free loopback port for browser and client tests."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(tmp: Path, *extra: str, timeout: float = 180.0, host: str = "127.0.0.1") -> Iterator[str]:
    """Yield the app's URL; stop it afterwards. Fails with the app's output if it never serves."""
    server = AppServer(tmp, *extra, host=host)
    server.start(timeout)
    try:
        yield server.url
    finally:
        server.stop()


class AppServer:
    """`python app.py` on one port that can be killed (SIGKILL) and started again on the same store.

    Every start appends to `tmp/app.log` (stdout and stderr), so a test can read what
    the server printed for each request. Uploads go to `tmp/gradio` (GRADIO_TEMP_DIR):
    the server's own folders are known, for checks that a reply names no other file.
    """

    def __init__(self, tmp: Path, *extra: str, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.tmp = Path(tmp)
        self.extra = extra if host == "127.0.0.1" else ("--host", host, *extra)
        self.port = port or free_port()
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"
        self.db = self.tmp / "store.sqlite3"
        self.work_dir = self.tmp / "work"
        self.models_dir = self.tmp / "models"
        self.gradio_dir = self.tmp / "gradio"
        self.log_path = self.tmp / "app.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 180.0) -> str:
        """Start the app and wait until it serves; RuntimeError with its output if it never does."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(self.gradio_dir)}
        # a test app compiles no UMAP kernels unless a test draws one (each session's XSENT_HOME starts empty)
        env.setdefault("XSENT_UMAP_WARMUP", "0")
        offset = self.log_size()
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), "--db", str(self.db),
                 "--work-dir", str(self.work_dir), "--models-dir", str(self.models_dir), *self.extra],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )
        self.starts += 1
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}:\n{self.read_log(offset)[-4000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"app did not serve within {timeout}s:\n{self.read_log(offset)[-4000:]}")
            time.sleep(0.3)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine loses power or the OOM killer strikes."""
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def read_log(self, offset: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def __enter__(self) -> "AppServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
