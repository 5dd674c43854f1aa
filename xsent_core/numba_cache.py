"""Numba's on-disk cache for UMAP: compile umap-learn's kernels once per installation, not per process.

umap-learn 0.5.12 jit-compiles all its kernels without `cache=True` (one of 113
has it) and pynndescent 0.7.0 about half of its own, so every new process paid
15-35 s of compiling before its first UMAP. `import_umap` points numba's cache at
<xsent home>/numba and switches the cache on for the module-level jitted
functions of both packages before their first call; numba then stores each
compiled kernel there and later processes load it. Numba keys each entry on the
source file's timestamp and size, the numba and Python versions and the CPU, so
an upgrade or another machine recompiles rather than load a stale kernel.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

from .paths import xsent_home

UMAP_PACKAGES = ("umap", "pynndescent")


def numba_cache_dir() -> Path:
    return xsent_home() / "numba"


def use_numba_cache() -> Path:
    """Point numba's cache at <xsent home>/numba unless NUMBA_CACHE_DIR is set already; the folder in effect.

    Numba reads NUMBA_CACHE_DIR when it is imported, so this belongs before the first
    numba import; should numba be loaded already, its settings are re-read.
    """
    folder = os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    if "numba" in sys.modules:
        from numba.core.config import reload_config

        reload_config()
    return Path(folder)


def import_umap() -> ModuleType:
    """`import umap`, with numba's disk cache on for its kernels and pynndescent's."""
    use_numba_cache()
    import umap

    cache_jitted_functions(UMAP_PACKAGES)
    return umap


def cache_jitted_functions(packages: Iterable[str]) -> int:
    """Switch numba's disk cache on for the module-level jitted functions of the loaded
    modules of `packages` that were declared without `cache=True`; how many were switched.

    Idempotent (a switched function is skipped), so concurrent callers are harmless. A
    function compiled already keeps its code and caches only new signatures.
    """
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    cache_class = stable_signature_cache_class()
    packages = set(packages)
    switched = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.partition(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            # _cache is numba's per-function cache: NullCache unless declared with cache=True
            if isinstance(value, Dispatcher) and value.py_func.__module__ == name and isinstance(value._cache, NullCache):
                try:
                    value._cache = cache_class(value.py_func)  # as Dispatcher.enable_caching does
                except RuntimeError:  # no writable cache folder: this one keeps compiling per process
                    continue
                switched += 1
    return switched


def stable_signature_cache_class() -> type:
    """numba's FunctionCache, except for signatures that take a jitted function as an argument.

    Such an argument's type is tied to one process's function object, so its entry is never
    found again: each process would compile anyway and add a new file (pynndescent's
    nn_descent and its helpers, with the metric passed in). Those compile per process, as
    before; everything else is stored. Defined here, not at module level, to keep numba's
    import out of `import xsent_core.numba_cache`.
    """
    from numba.core import sigutils, types
    from numba.core.caching import FunctionCache

    def per_process(sig: object) -> bool:
        args, _ = sigutils.normalize_signature(sig)
        return any(isinstance(t, (types.Dispatcher, types.FunctionType)) for t in args)

    class StableSignatureCache(FunctionCache):
        def load_overload(self, sig, target_context):  # type: ignore[override]
            return None if per_process(sig) else super().load_overload(sig, target_context)

        def save_overload(self, sig, data):  # type: ignore[override]
            if not per_process(sig):
                super().save_overload(sig, data)

    return StableSignatureCache
