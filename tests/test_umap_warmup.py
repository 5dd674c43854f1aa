"""UMAP without the wait: numba's kernel cache lives under XSENT_HOME, the app's warm-up runs
in the background, and a draw during the warm-up waits for it and gets the same answer.
No timings here: benchmarks/umap_start.py measures the speed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# a package of two jitted kernels without cache=True, like umap-learn's; `apply` takes a jitted
# function as an argument, which pynndescent's nn_descent does with its metric
KERNELS = """
import numba

@numba.njit
def total(x):
    s = 0.0
    for v in x:
        s += v
    return s

@numba.njit
def apply(f, x):
    return f(x)
"""

# one "process" of an installation: switch the cache on, call both kernels, report cache hits
RUN_KERNELS = """
import json, sys
import numpy as np
from xsent_core.numba_cache import cache_jitted_functions, use_numba_cache
use_numba_cache()
import fakekernels
switched = cache_jitted_functions(["fakekernels"])
x = np.arange(4.0)
assert fakekernels.total(x) == 6.0 and fakekernels.apply(fakekernels.total, x) == 6.0
hits = {name: sum(getattr(fakekernels, name).stats.cache_hits.values()) for name in ("total", "apply")}
print(json.dumps({"switched": switched, "hits": hits}))
"""


def child_env(home: Path, *, pythonpath: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XSENT_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (ROOT, pythonpath) if p)
    return env


def test_numba_cache_folder_is_under_xsent_home(tmp_path, monkeypatch):
    from xsent_core.numba_cache import numba_cache_dir, use_numba_cache

    monkeypatch.setenv("XSENT_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert numba_cache_dir() == tmp_path / "numba"
    assert use_numba_cache() == tmp_path / "numba"
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "numba")
    # a folder the user chose is kept
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert use_numba_cache() == tmp_path / "mine"


def test_importing_the_modules_does_no_numba_work(tmp_path):
    code = (
        "import os, sys, xsent_core.alignment, xsent_core.numba_cache, views.umap_warmup;"
        "print(int('numba' in sys.modules), int('NUMBA_CACHE_DIR' in os.environ))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=child_env(tmp_path), capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"], out.stderr


def test_kernels_compile_once_per_installation(tmp_path):
    """The second process loads the first one's kernel from <XSENT_HOME>/numba; a kernel taking
    a jitted function compiles each time and leaves no file (its entry could never be found)."""
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "fakekernels.py").write_text(KERNELS, encoding="utf-8")
    home = tmp_path / "home"
    runs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", RUN_KERNELS], env=child_env(home, pythonpath=tmp_path / "pkgs"),
            capture_output=True, text=True, check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert [r["switched"] for r in runs] == [2, 2]
    assert runs[0]["hits"] == {"total": 0, "apply": 0}
    assert runs[1]["hits"] == {"total": 1, "apply": 0}
    cached = sorted(p.name for p in (home / "numba").rglob("*.nb*"))
    assert cached and all(name.startswith("fakekernels.total-") for name in cached), cached


def test_cache_is_switched_on_only_for_the_named_packages(tmp_path, monkeypatch):
    from numba.core.caching import NullCache

    from xsent_core.numba_cache import cache_jitted_functions, use_numba_cache

    monkeypatch.setenv("XSENT_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    use_numba_cache()
    (tmp_path / "otherkernels.py").write_text(KERNELS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import otherkernels

    try:
        assert cache_jitted_functions(["fakekernels"]) == 0
        assert isinstance(otherkernels.total._cache, NullCache)
        assert cache_jitted_functions(["otherkernels"]) == 2
        assert cache_jitted_functions(["otherkernels"]) == 0  # idempotent
        assert str(otherkernels.total._cache._cache_path).startswith(str(tmp_path / "numba"))
    finally:
        sys.modules.pop("otherkernels", None)


def test_warmup_runs_in_the_background_once_per_app(monkeypatch):
    from views.umap_warmup import start_umap_warmup, wait_for_umap_warmup

    monkeypatch.delenv("XSENT_UMAP_WARMUP", raising=False)
    release, calls = threading.Event(), []
    services = SimpleNamespace(extras={})

    def slow_warm_up() -> None:
        calls.append(1)
        release.wait()

    thread = start_umap_warmup(services, warm_up=slow_warm_up)
    try:
        # start returned while the warm-up is still held: it did not wait for it
        assert thread is not None and thread.is_alive() and thread.daemon
        assert start_umap_warmup(services, warm_up=slow_warm_up) is thread  # one per app
    finally:
        release.set()
    thread.join(30)
    assert not thread.is_alive() and calls == [1]
    assert wait_for_umap_warmup(services, progress=pytest.fail) == 0.0  # done: no wait, no message


def test_warmup_waits_for_the_job_it_is_told_to_follow(monkeypatch):
    from views.umap_warmup import start_umap_warmup

    monkeypatch.delenv("XSENT_UMAP_WARMUP", raising=False)
    model_loaded, calls = threading.Event(), []
    preload = threading.Thread(target=model_loaded.wait, args=(30,), daemon=True)
    preload.start()
    thread = start_umap_warmup(SimpleNamespace(extras={}), warm_up=lambda: calls.append(model_loaded.is_set()), after=preload)
    assert thread is not None and thread.is_alive() and calls == []
    model_loaded.set()
    thread.join(30)
    assert calls == [True]  # it ran, and only once the preload had finished


def test_warmup_can_be_turned_off(monkeypatch):
    from views.umap_warmup import start_umap_warmup, wait_for_umap_warmup

    monkeypatch.setenv("XSENT_UMAP_WARMUP", "0")
    services = SimpleNamespace(extras={})
    assert start_umap_warmup(services, warm_up=pytest.fail) is None
    assert wait_for_umap_warmup(services, progress=pytest.fail) == 0.0


def test_a_failed_warmup_does_not_hold_draws(monkeypatch, capsys):
    from views.umap_warmup import start_umap_warmup, wait_for_umap_warmup

    monkeypatch.delenv("XSENT_UMAP_WARMUP", raising=False)
    services = SimpleNamespace(extras={})

    def broken() -> None:
        raise OSError("disk full")

    start_umap_warmup(services, warm_up=broken).join(30)
    assert "UMAP warm-up failed (OSError: disk full)" in capsys.readouterr().err
    assert wait_for_umap_warmup(services, progress=pytest.fail) == 0.0


def test_a_draw_during_warmup_waits_with_a_message_then_gets_the_same_answer(monkeypatch):
    from xsent_core.alignment import project_2d

    from views.umap_warmup import WAIT_MESSAGE, start_umap_warmup, wait_for_umap_warmup

    monkeypatch.delenv("XSENT_UMAP_WARMUP", raising=False)
    release = threading.Event()
    services = SimpleNamespace(extras={})
    start_umap_warmup(services, warm_up=release.wait)
    vectors = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    shown, answer = [], {}

    def draw() -> None:  # what the Alignment tab's Draw does: wait, then project
        answer["waited"] = wait_for_umap_warmup(services, lambda *a, **kw: shown.append(kw.get("desc")))
        answer["coords"] = project_2d(vectors, "pca")[0]

    drawing = threading.Thread(target=draw)
    drawing.start()
    try:
        drawing.join(0.5)
        assert drawing.is_alive() and "coords" not in answer  # held by the warm-up
    finally:
        release.set()
    drawing.join(30)
    assert shown == [WAIT_MESSAGE] and answer["waited"] > 0
    np.testing.assert_array_equal(answer["coords"], project_2d(vectors, "pca")[0])


def test_only_umap_draws_wait_for_the_warmup():
    from views.alignment import concept_text, draw_uses_umap

    eight_pairs = "\n".join(f"word{i}\tစကား{i}" for i in range(8))
    assert not draw_uses_umap(concept_text(), "auto")  # the preloaded 5 pairs: 10 points, PCA
    assert draw_uses_umap(concept_text(), "umap")
    assert draw_uses_umap(eight_pairs, "auto")
    assert not draw_uses_umap(eight_pairs, "pca")
    assert not draw_uses_umap("one column only", "umap")  # refused before any projection


@pytest.mark.slow  # compiles umap-learn's kernels into this run's empty cache: about a minute on 2 cores
def test_real_warmup_covers_a_draw_and_a_concurrent_draw_is_right():
    from numba.core import event

    from xsent_core.alignment import project_2d, warm_up_umap

    rng = np.random.default_rng(0)
    vectors = np.concatenate([rng.normal(size=(30, 64)), rng.normal(loc=4.0, size=(30, 64))]).astype(np.float32)
    warm = threading.Thread(target=warm_up_umap)
    warm.start()
    during, _ = project_2d(vectors, "umap", seed=3, n_epochs=30)  # while the warm-up compiles
    warm.join()

    compiled = []

    class Recorder(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Recorder()):
        after, _ = project_2d(vectors, "umap", seed=3, n_epochs=30)
        project_2d(rng.normal(size=(300, 384)).astype(np.float32), "umap")  # a draw of 150 pairs
    np.testing.assert_array_equal(during, after)
    assert compiled == []  # the warm-up compiled everything a draw uses
