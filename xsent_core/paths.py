"""Where xsent keeps caches and user data."""
from __future__ import annotations

import os
from pathlib import Path


def xsent_home() -> Path:
    """Cache root: $XSENT_HOME, else ~/.cache/xsent. Created on demand."""
    root = Path(os.environ.get("XSENT_HOME") or Path.home() / ".cache" / "xsent")
    root.mkdir(parents=True, exist_ok=True)
    return root


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def shipped_models_dir() -> Path:
    """Default weights committed to the repository (assets/models)."""
    return repo_root() / "assets" / "models"


def shared_data_dir() -> Path:
    """The project's datasets: $XSENT_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("XSENT_DATA")
    return Path(env) if env else repo_root().parent / "shared" / "data"


def expand_placeholders(spec: str) -> str:
    """`{data}` -> the shared data folder, `{assets}` -> the repository's assets folder,
    `{models}` -> the shipped models."""
    return (spec.replace("{data}", str(shared_data_dir())).replace("{assets}", str(repo_root() / "assets"))
            .replace("{models}", str(shipped_models_dir())))
