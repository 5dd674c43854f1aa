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
    port = free_port()
    if host != "127.0.0.1":
        extra = ("--host", host, *extra)
    log = open(tmp / "app.log", "w+", encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--db", str(tmp / "store.sqlite3"),
         "--work-dir", str(tmp / "work"), "--models-dir", str(tmp / "models"), *extra],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
    )
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app exited with {proc.returncode}:\n{log.read()[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                log.seek(0)
                raise RuntimeError(f"app did not serve within {timeout}s:\n{log.read()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
