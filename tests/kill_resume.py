"""SIGKILL a real `python -m xsent_core train` after its first checkpoint, then `--resume` it.

Shared by tests/test_kill_resume.py and benchmarks/reliability.py. The run is
the `tagger-tiny` preset on a tiny random BERT (tests/tiny_encoder.py): 64
sentences, 4 optimiser steps and one checkpoint per epoch, milliseconds a step.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 40  # long enough (seconds) that the kill lands well before the end
STEPS_PER_EPOCH = 4  # tagger-tiny: 64 sentences in batches of 16
# tqdm's first frame shows where the loop starts: `initial=state.step` after a resume
_FIRST_FRAME = re.compile(r"train tagger:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+) ")


@dataclass(frozen=True)
class Trial:
    killed: bool  # the first run died of SIGKILL, not by finishing first
    checkpoint_step: int | None  # step of the checkpoint the kill left behind
    checkpoint_loads: bool
    resumed_from: int | None  # the step the resumed run started at
    resumed_status: str | None
    final_steps: int | None
    seconds: float
    error: str | None = None

    @property
    def passed(self) -> bool:
        return (
            self.killed
            and self.checkpoint_loads
            and self.checkpoint_step is not None
            and self.resumed_from == self.checkpoint_step
            and self.resumed_status == "finished"
            and self.final_steps == EPOCHS * STEPS_PER_EPOCH
        )


def train_command(out: Path, encoder: Path, resume: bool = False) -> list[str]:
    return [
        sys.executable, "-m", "xsent_core", "train", "--method", "tagger", "--preset", "tagger-tiny",
        "--out", str(out), "--device", "cpu",
        "--config", json.dumps({"encoder": str(encoder), "train_from_layer": 1}),
        "--train-config", json.dumps({"epochs": EPOCHS, "max_steps": None}),
        *(["--resume"] if resume else []),
    ]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}


def kill_after_first_checkpoint(out: Path, encoder: Path, timeout: float = 120.0) -> int | None:
    """Start training, SIGKILL it once `checkpoints/last` exists; the exit code (-9 when killed)."""
    proc = subprocess.Popen(
        train_command(out, encoder), cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "checkpoints" / "last" / "trainer_state.json").exists():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        proc.wait()  # reaped: its pid no longer looks alive
    return proc.returncode


def check_checkpoint(folder: Path) -> int:
    """Load a checkpoint the way resume does (safetensors, weights-only torch.load); its step."""
    import torch
    from safetensors.torch import load_file

    from xsent_core.registry import load_model

    weights = load_file(str(folder / "model" / "model.safetensors"))
    assert weights and all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())
    model = load_model(folder / "model", expected_method="tagger")
    assert set(weights) <= set(model.state_dict())
    optimiser = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    assert {"optimizer", "scheduler"} <= set(optimiser)
    return int(json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["step"])


def resume(out: Path, encoder: Path, timeout: float = 300.0) -> tuple[subprocess.CompletedProcess, int | None]:
    """Run `train --resume`; (the finished process, the step its loop started at)."""
    proc = subprocess.run(
        train_command(out, encoder, resume=True), cwd=ROOT, env=child_env(), capture_output=True, text=True,
        timeout=timeout,
    )
    first = _FIRST_FRAME.search(proc.stderr)
    return proc, int(first.group(1)) if first else None


def trial(workdir: Path, encoder: Path) -> Trial:
    """One kill-and-resume round in a fresh `workdir/model`, as a record (never raises)."""
    from xsent_core.training import find_checkpoint

    start = time.monotonic()
    out = workdir / "model"
    killed, step, loads, resumed_from, status, final = False, None, False, None, None, None
    try:
        killed = kill_after_first_checkpoint(out, encoder) == -signal.SIGKILL
        found = find_checkpoint(out)
        if found is not None:
            step = check_checkpoint(found)
            loads = True
        proc, resumed_from = resume(out, encoder)
        if proc.returncode == 0:
            report = json.loads(proc.stdout)
            status, final = report.get("status"), report.get("steps")
        else:
            status = f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
        error = None
    except Exception as e:  # recorded, so one bad trial does not hide the others
        error = f"{type(e).__name__}: {e}"
    return Trial(killed, step, loads, resumed_from, status, final, round(time.monotonic() - start, 2), error)
