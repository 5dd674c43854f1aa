"""A tiny Method (no pretrained encoder) for testing the loop, registry and CLI plumbing fast."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from xsent_core.methods.base import Method
from xsent_core.types import SENTIMENT_LABELS, Example, Prediction


@dataclass(frozen=True)
class ToyConfig:
    features: int = 8
    hidden: int = 16


def featurise(text: str, n: int) -> torch.Tensor:
    """Deterministic bag-of-characters features: enough for a learnable toy task."""
    v = torch.zeros(n)
    for ch in text:
        v[ord(ch) % n] += 1.0
    return v / max(1, len(text))


class ToyMethod(Method):
    name = "toy"
    config_cls = ToyConfig
    task = "sentence"

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        self.body = torch.nn.Sequential(
            torch.nn.Linear(config.features, config.hidden), torch.nn.ReLU(), torch.nn.Linear(config.hidden, 3)
        )

    @classmethod
    def create(cls, config: ToyConfig, device: Any = "cpu") -> "ToyMethod":
        return cls(config).to(device)

    def encoder_fingerprint(self) -> str:
        return "none"

    def prepare(self, examples: Sequence[Example]) -> list[dict[str, torch.Tensor]]:
        return [
            {"x": featurise(ex.text, self.config.features), "y": torch.tensor(SENTIMENT_LABELS.index(ex.label))}
            for ex in examples
            if ex.label
        ]

    def collate(self, items):
        return {"x": torch.stack([i["x"] for i in items]), "y": torch.stack([i["y"] for i in items])}

    def forward_loss(self, batch):
        loss = torch.nn.functional.cross_entropy(self.body(batch["x"]), batch["y"])
        return {"loss": loss}

    @torch.inference_mode()
    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        x = torch.stack([featurise(ex.text, self.config.features) for ex in examples])
        probs = self.body(x.to(self.device)).softmax(-1).cpu()
        return [
            Prediction(label=SENTIMENT_LABELS[int(p.argmax())], probs=dict(zip(SENTIMENT_LABELS, map(float, p))))
            for p in probs
        ]

    def explain(self, example: Example) -> dict[str, Any]:
        return self.predict([example])[0].to_dict()

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        preds = self.predict(examples)
        acc = sum(p.label == ex.label for p, ex in zip(preds, examples)) / max(1, len(examples))
        return {"accuracy": acc, "f1": acc}


def toy_examples(n: int = 96) -> list[Example]:
    """Label is decided by which letter dominates: learnable from the features."""
    rows = []
    letters = {"negative": "x", "neutral": "m", "positive": "a"}
    for i in range(n):
        label = SENTIMENT_LABELS[i % 3]
        rows.append(Example(id=str(i), text=letters[label] * (3 + i % 5) + " b", label=label))
    return rows
