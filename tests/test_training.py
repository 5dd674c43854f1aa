"""The shared training loop: learning, best-model selection, checkpoints, resume, cancel."""
from __future__ import annotations

import json
import threading

import pytest
import torch

from tests.toy_method import ToyConfig, ToyMethod, toy_examples
from xsent_core.methods.base import TrainConfig
from xsent_core.registry import load_model
from xsent_core.training import fit, seed_everything
from xsent_core.types import XsentError

CLASSES = {"toy": ToyMethod}


def make(seed: int = 0) -> ToyMethod:
    torch.manual_seed(seed)
    return ToyMethod(ToyConfig())


def test_fit_learns_and_saves_best(tmp_path):
    rows = toy_examples()
    model = make()
    before = model.evaluate(rows)["accuracy"]
    train = TrainConfig(epochs=15, batch_size=8, head_lr=0.05, lr=0.05, warmup_ratio=0.0, device="cpu", select_metric="accuracy")
    result = fit(model, model.prepare(rows), train, evaluate=lambda: model.evaluate(rows), out_dir=tmp_path / "m", progress=False)
    assert result.status == "finished"
    assert result.best_metric is not None and result.best_metric > max(before, 0.9)
    saved = load_model(tmp_path / "m", classes=CLASSES)
    assert saved.evaluate(rows)["accuracy"] == pytest.approx(result.best_metric)
    # a resumable checkpoint exists after each epoch
    state = json.loads((tmp_path / "m" / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["step"] == result.steps and state["epoch"] == 15


def test_same_seed_same_result():
    rows = toy_examples(48)
    train = TrainConfig(epochs=2, batch_size=8, head_lr=0.01, device="cpu")
    losses = []
    for _ in range(2):
        model = make()
        history = []
        fit(model, model.prepare(rows), train, progress=False, callbacks=[lambda e, s, p: e == "step" and history.append(p["loss"])])
        losses.append(history)
    assert losses[0] == losses[1]


def test_gradient_accumulation_counts_optimizer_steps():
    rows = toy_examples(64)
    model = make()
    result = fit(model, model.prepare(rows), TrainConfig(epochs=1, batch_size=8, grad_accum=2, device="cpu"), progress=False)
    assert result.steps == 4  # 8 micro-batches / 2


def test_max_steps_limits_training():
    rows = toy_examples(64)
    model = make()
    result = fit(model, model.prepare(rows), TrainConfig(epochs=50, max_steps=5, batch_size=8, device="cpu"), progress=False)
    assert result.steps == 5


def test_cancel_stops_between_steps(tmp_path):
    rows = toy_examples(64)
    model = make()
    cancel = threading.Event()

    def stop_after_three(event, state, payload):
        if event == "step" and state.step == 3:
            cancel.set()

    result = fit(model, model.prepare(rows), TrainConfig(epochs=5, batch_size=8, device="cpu"), cancel=cancel,
                 callbacks=[stop_after_three], out_dir=tmp_path / "m", progress=False)
    assert result.status == "cancelled"
    assert result.steps == 3


def test_resume_continues_from_checkpoint(tmp_path):
    rows = toy_examples(64)
    train = TrainConfig(epochs=4, batch_size=8, device="cpu")
    out = tmp_path / "m"
    cancel = threading.Event()
    model = make()
    # stop during epoch 3: two epochs are checkpointed
    fit(model, model.prepare(rows), train, out_dir=out, cancel=cancel, progress=False,
        callbacks=[lambda e, s, p: e == "step" and s.step == 18 and cancel.set()])
    saved = json.loads((out / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert saved["step"] == 16 and saved["epoch"] == 2
    resumed = make(seed=1)  # different init: the checkpoint must overwrite it
    result = fit(resumed, resumed.prepare(rows), train, out_dir=out, resume=True, progress=False)
    assert result.status == "finished" and result.steps == 32


def test_empty_training_set_is_a_clear_error():
    model = make()
    with pytest.raises(XsentError, match="empty"):
        fit(model, [], TrainConfig(device="cpu"), progress=False)


def test_training_set_smaller_than_one_step_is_a_clear_error():
    model = make()
    rows = model.prepare(toy_examples(4))
    with pytest.raises(XsentError, match="smaller than one optimiser step"):
        fit(model, rows, TrainConfig(batch_size=8, grad_accum=2, device="cpu"), progress=False)


def test_seed_everything_is_deterministic():
    a = seed_everything(5).random(), torch.rand(1).item()
    b = seed_everything(5).random(), torch.rand(1).item()
    assert a == b


def test_run_options_train_config_applies_overrides_then_device():
    from xsent_core.methods.base import Preset, RunOptions, TrainConfig

    preset = Preset(name="p", method="tagger", description="", config={}, train=TrainConfig(epochs=3, lr=1e-4), data={})
    assert RunOptions().train_config(preset) == preset.train
    train = RunOptions(train_overrides={"epochs": 1, "device": "cuda"}, device="cpu").train_config(preset)
    assert (train.epochs, train.lr, train.device) == (1, 1e-4, "cpu")


def test_time_budget_stops_training_and_ends_the_schedule():
    from xsent_core.training import TimeBudget

    rows = toy_examples(64)
    model = make()
    lrs = []
    planned = 8 * 500
    result = fit(
        model, model.prepare(rows), TrainConfig(epochs=500, batch_size=8, device="cpu", time_budget_s=0.5),
        progress=False, callbacks=[lambda e, s, p: e == "step" and lrs.append(s.total_steps)],
    )
    assert TimeBudget.CALIBRATION_STEPS <= result.steps < planned
    assert lrs[-1] == result.steps  # the estimated end is where training stopped


def test_time_budget_estimate_by_hand():
    from xsent_core.training import TimeBudget

    budget = TimeBudget(10.0)
    budget.pause()
    budget.spent = 2.0  # 2 s for 20 steps: 0.1 s a step
    assert budget.total_steps(20, 1000) == 100
    assert budget.total_steps(20, 50) == 50  # never beyond the epochs' plan
    assert budget.total_steps(5, 1000) == 1000  # too few steps to estimate
    budget.spent = 30.0
    assert budget.total_steps(20, 1000) == 20  # over budget: stop now


def test_rebuild_command_names_no_machine_path_and_keeps_overrides(tmp_path, monkeypatch):
    import shlex

    from xsent_core.methods.base import RunOptions
    from xsent_core.recipes import get_preset

    preset = get_preset("tagger", "tagger-builtin")
    monkeypatch.chdir(tmp_path)
    inside = RunOptions().rebuild_command(preset, tmp_path / "assets" / "models" / "tagger")
    assert inside == "python -m xsent_core train --method tagger --preset tagger-builtin --out assets/models/tagger"
    outside = RunOptions(overrides={"adapt": "lora"}, train_overrides={"seed": 14}, half=True).rebuild_command(
        preset, "/scratch/somewhere/run1"
    )
    assert "/scratch" not in outside
    args = shlex.split(outside)
    assert args[args.index("--out") + 1] == "runs/tagger-builtin"
    assert json.loads(args[args.index("--config") + 1]) == {"adapt": "lora"}
    assert json.loads(args[args.index("--train-config") + 1]) == {"seed": 14}
    assert args[-1] == "--half"
