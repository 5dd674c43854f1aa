"""The contract every method honours, so CLI, training loop and app need not know
which method they drive.

A method is a `torch.nn.Module` with:
- `prepare(examples)` -> features the loop can batch (tokenised ids, cached
  frozen-encoder states, labels); done once per dataset.
- `batches(prepared, batch_size, shuffle, generator)` -> batches.
- `forward_loss(batch)` -> dict of named scalar losses; key "loss" is the total.
- `predict(examples)` -> list[Prediction]; `explain(example)` -> JSON-ready dict.
- `evaluate(examples)` -> dict of metrics (fractions in [0, 1]).
Persistence (config JSON + safetensors of the trained parameters) lives in
`xsent_core.registry` and works for every subclass.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import torch

from ..types import Example, Prediction
from .spec import MethodSpec


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every method (the loop reads these)."""

    epochs: int = 3
    max_steps: int | None = None  # stop after this many optimiser steps
    batch_size: int = 16
    lr: float = 5e-5  # encoder layers
    head_lr: float = 1e-3  # new layers (heads, gates, critics...)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    seed: int = 13
    device: str = "auto"
    eval_every: int | None = None  # optimiser steps between evaluations; None = once per epoch
    select_metric: str = "f1"  # key of evaluate() used to keep the best model
    # stop after about this much training time (evaluation excluded); the step count is
    # re-estimated after the first steps so the learning-rate schedule still ends at zero
    time_budget_s: float | None = None


@dataclass(frozen=True)
class Preset:
    """A named, reproducible training recipe (`train --method M --preset P`)."""

    name: str
    method: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)  # method config overrides
    train: TrainConfig = field(default_factory=TrainConfig)
    # dataset specs "format:path"; paths may use {data} for the shared data folder
    data: Mapping[str, Any] = field(default_factory=dict)
    smoke: bool = False  # seconds of training, for tests and smoke runs: its model is not one to use


@dataclass(frozen=True)
class RunOptions:
    """How `recipes.run_preset` runs a preset; methods with multi-stage recipes get it whole."""

    device: str | None = None
    overrides: Mapping[str, Any] | None = None  # method config entries
    train_overrides: Mapping[str, Any] | None = None  # TrainConfig entries
    callbacks: Sequence[Any] = ()
    cancel: Any = None  # threading.Event
    progress: bool = True
    evaluate_tests: bool = True
    half: bool = False
    unlabelled: str | None = None  # FORMAT:PATH of unlabelled target text
    resume: bool = False

    def rebuild_command(self, preset: Preset, out_dir: Any) -> str:
        """The `train` command that reproduces this run, with no machine-specific path.

        `--out` is shown relative to the working folder when it lies inside it,
        else as runs/<preset>; overrides and --unlabelled are kept.
        """
        import json
        import shlex
        from pathlib import Path

        out = Path(out_dir).resolve()
        try:
            shown = str(out.relative_to(Path.cwd().resolve()))
        except ValueError:
            shown = f"runs/{preset.name}"
        parts = ["python", "-m", "xsent_core", "train", "--method", preset.method, "--preset", preset.name, "--out", shown]
        if self.overrides:
            parts += ["--config", json.dumps(dict(self.overrides), sort_keys=True)]
        if self.train_overrides:
            parts += ["--train-config", json.dumps(dict(self.train_overrides), sort_keys=True)]
        if self.unlabelled:
            parts += ["--unlabelled", self.unlabelled]
        if self.half:
            parts.append("--half")
        return shlex.join(parts)

    def train_config(self, preset: Preset) -> TrainConfig:
        """The preset's TrainConfig with this run's overrides and device applied."""
        from ..config import config_from_dict, config_to_dict

        return config_from_dict(
            TrainConfig,
            {**config_to_dict(preset.train), **(self.train_overrides or {}), **({"device": self.device} if self.device else {})},
        )


class Method(torch.nn.Module):
    """Base class; subclasses set `name`, `config_cls`, `task` and implement the hooks."""

    name: ClassVar[str]
    config_cls: ClassVar[type]
    task: ClassVar[str]  # "sentence" or "spans"
    # what the app may offer (see `spec()`): extra inputs beyond text, what explain() draws,
    # whether its models carry a cross-lingual map, which store-driven jobs start from it
    extra_inputs: ClassVar[frozenset[str]] = frozenset()
    shows: ClassVar[str] = ""
    alignment_map: ClassVar[bool] = False
    jobs: ClassVar[frozenset[str]] = frozenset()
    # submodules holding pretrained weights that are rebuilt from their spec at load
    # time; only their trainable parameters are saved
    pretrained_prefixes: ClassVar[tuple[str, ...]] = ("encoder.", "image_encoder.")
    # whether seeds of one recipe can be weight-averaged (`xsent_core.soup`): true when every module the
    # method adds reads and writes fixed coordinates (the encoder's dimensions, the labels). Hidden units
    # (a GRU's, an MLP's) come out of each seed in their own order, and their average means nothing.
    averageable: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        # LoRA tensors already added into the encoder weights (a model loaded to predict); kept for saving
        self.folded_adapters: dict[str, torch.Tensor] = {}

    @classmethod
    def spec(cls) -> MethodSpec:
        """The method's declared interface (the app renders from it)."""
        return MethodSpec(
            name=cls.name, task=cls.task, inputs=frozenset({"text"}) | cls.extra_inputs, shows=cls.shows,
            alignment_map=cls.alignment_map, jobs=cls.jobs,
        )

    # -- construction -----------------------------------------------------------
    @classmethod
    def create(cls, config: Any, device: torch.device | str = "cpu") -> "Method":
        """Build a fresh (untrained heads) model, loading its encoder(s)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def encoder_fingerprint(self) -> str:
        """Identifies the encoder(s) the trained weights depend on."""
        raise NotImplementedError

    # -- training ---------------------------------------------------------------
    def prepare(self, examples: Sequence[Example]) -> Sequence[Any]:
        raise NotImplementedError

    def batches(
        self,
        prepared: Sequence[Any],
        batch_size: int,
        shuffle: bool,
        generator: random.Random,
    ) -> Iterator[Any]:
        """Default: length-bucketed batches (sort by `len(item)`, shuffle the buckets)."""
        for chunk in window_shuffled_chunks(len(prepared), batch_size, shuffle, generator, lambda j: _length(prepared[j])):
            yield self.collate([prepared[i] for i in chunk])

    def collate(self, items: Sequence[Any]) -> Any:
        raise NotImplementedError

    def forward_loss(self, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def param_groups(self, train: TrainConfig) -> list[dict[str, Any]]:
        """Encoder parameters at `lr`, everything else at `head_lr`."""
        enc, head = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (enc if name.startswith("encoder.") else head).append(p)
        groups = []
        if enc:
            groups.append({"params": enc, "lr": train.lr, "name": "encoder"})
        if head:
            groups.append({"params": head, "lr": train.head_lr, "name": "head"})
        return groups

    def before_optimizer_step(self, batch: Any, step: int) -> dict[str, float]:
        """Hook for extra updates (e.g. a critic's own steps); returns logged values."""
        return {}

    # -- inference --------------------------------------------------------------
    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        raise NotImplementedError

    def explain(self, example: Example) -> dict[str, Any]:
        raise NotImplementedError

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------
    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        """Only what training changes: parameters with requires_grad and head buffers."""
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        state = self.state_dict()
        keep = {
            k: v
            for k, v in state.items()
            if k in trainable or not k.startswith(self.pretrained_prefixes)
        }
        keep.update(self.folded_adapters)
        return {k: v.detach().contiguous() for k, v in keep.items() if isinstance(v, torch.Tensor)}


def window_shuffled_chunks(
    n: int, batch_size: int, shuffle: bool, generator: random.Random, length: Callable[[int], int]
) -> list[list[int]]:
    """Indices 0..n-1 in batches of `batch_size`. Shuffled: shuffle, sort by `length(i)` within
    windows of 50 batches (little padding, still random), then shuffle the batches."""
    order = list(range(n))
    if shuffle:
        generator.shuffle(order)
        window = batch_size * 50
        order = [i for w in range(0, n, window) for i in sorted(order[w : w + window], key=length)]
    chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if shuffle:
        generator.shuffle(chunks)
    return chunks


def _length(item: Any) -> int:
    """Sort key for bucketing: token count of a prepared item (dicts carry it in "ids")."""
    if isinstance(item, dict):
        item = item.get("ids", item.get("input_ids", ()))
    try:
        return len(item)
    except TypeError:
        return 0
