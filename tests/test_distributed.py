"""Data-parallel training with 2 CPU processes (gloo) under torchrun matches one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.app_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "scripts" / "dist_train.py"


def run(cmd, tmp):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_two_process_torchrun_matches_single_process(tmp_path):
    run([sys.executable, str(SCRIPT), str(tmp_path / "single.json"), str(tmp_path / "single")], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         str(SCRIPT), str(tmp_path / "dist.json"), str(tmp_path / "dist")], tmp_path)
    single = json.loads((tmp_path / "single.json.rank0").read_text())
    ranks = [json.loads((tmp_path / f"dist.json.rank{r}").read_text()) for r in (0, 1)]
    # each rank took half the optimiser steps of one process with the same batch size
    assert ranks[0]["steps"] == ranks[1]["steps"] == single["steps"] // 2
    # ranks stay in lockstep: identical weights give identical metrics
    assert ranks[0]["final"] == ranks[1]["final"]
    assert single["best"] >= 0.9
    assert abs(ranks[0]["best"] - single["best"]) <= 0.1
    # only rank 0 wrote the model folder, and it loads
    from tests.toy_method import ToyMethod, toy_examples
    from xsent_core.registry import load_model

    model = load_model(tmp_path / "dist", classes={"toy": ToyMethod})
    assert model.evaluate(toy_examples(192))["accuracy"] >= 0.85


def test_stop_on_rank_zero_stops_every_rank_and_resume_restores_every_rank(tmp_path):
    """Early stopping and cancel are seen by rank 0 alone; resume must read one checkpoint on every rank."""
    script = ROOT / "tests" / "scripts" / "dist_stop_resume.py"
    model_dir = tmp_path / "model"
    for phase in ("stop", "unshared", "resume"):
        run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
             str(script), str(tmp_path / f"{phase}.json"), str(model_dir), phase], tmp_path)
    stop = [json.loads((tmp_path / f"stop.json.rank{r}").read_text()) for r in (0, 1)]
    # rank 1 never saw the stop itself; it stopped at the same step instead of waiting in all_reduce
    assert [s["status"] for s in stop] == ["cancelled", "cancelled"]
    assert stop[0]["steps"] == stop[1]["steps"] == 15
    # a rank that cannot read the checkpoint stops every rank with a clear error
    unshared = [json.loads((tmp_path / f"unshared.json.rank{r}").read_text()) for r in (0, 1)]
    assert all("shared filesystem" in u.get("error", "") for u in unshared), unshared
    resumed = [json.loads((tmp_path / f"resume.json.rank{r}").read_text()) for r in (0, 1)]
    assert [r["started"] for r in resumed] == [12, 12]  # both ranks read the epoch-1 checkpoint
    assert [r["status"] for r in resumed] == ["finished", "finished"] and resumed[0]["steps"] == 48
    assert resumed[0]["checksum"] == resumed[1]["checksum"]  # still in lockstep


def test_lora_trains_in_lockstep_under_torchrun(tmp_path):
    from tests.tiny_encoder import make_tiny_bert
    from xsent_core.registry import load_model

    encoder = make_tiny_bert(tmp_path / "tiny-bert")
    script = ROOT / "tests" / "scripts" / "dist_lora.py"
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         str(script), str(encoder), str(tmp_path / "lora.json"), str(tmp_path / "model")], tmp_path)
    ranks = [json.loads((tmp_path / f"lora.json.rank{r}").read_text()) for r in (0, 1)]
    assert ranks[0]["tensors"] == 24 and ranks[0]["steps"] == 8  # 32 rows / 4 per batch / 2 ranks x 2 epochs
    assert ranks[0]["checksum"] == ranks[1]["checksum"] > 0  # same adapters on both ranks
    assert load_model(tmp_path / "model").config.adapt == "lora"
