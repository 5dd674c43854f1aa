"""`classifier` baseline: sentence sentiment from the encoder's mean-pooled top
layer and a linear head (negative / neutral / positive)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ...evaluation import flat_sentence_metrics, prediction_report
from ...imbalance import check_class_weighting, class_counts, imbalanced_cross_entropy
from ...types import SENTIMENT_LABELS, Example, Prediction
from ...adaptation import EncoderAdaptation, adapt_encoder
from ..base import Method
from ..panels import Distributions, panel_dict
from ..common import frozen_states, full_states, length_chunks, normalized_text, pad_stack, upper_states


@dataclass(frozen=True)
class ClassifierConfig(EncoderAdaptation):
    encoder: str = "builtin"
    train_from_layer: int = 10
    max_length: int = 128  # sub-tokens per training sentence
    prefix: str = "query: "  # e5 was trained with this prefix
    dropout: float = 0.1
    class_weighting: str = "none"  # "none" | "balanced" (weights from the training labels)
    logit_adjust: float = 0.0  # tau of logit-adjusted cross-entropy (0 = off)


class ClassifierMethod(Method):
    name = "classifier"
    config_cls = ClassifierConfig
    task = "sentence"
    averageable = True  # LoRA deltas or top layers, and a linear head
    shows = "class probabilities"

    def __init__(self, config: ClassifierConfig, encoder: Any) -> None:
        super().__init__(config)
        self.encoder = encoder
        self.live_layer = adapt_encoder(encoder, config)  # layers below it are cached
        self.dropout = torch.nn.Dropout(config.dropout)
        self.head = torch.nn.Linear(encoder.info.hidden_size, len(SENTIMENT_LABELS))
        check_class_weighting(config.class_weighting)
        # training-label counts for the imbalance options, set by prepare(); training-time only
        self.register_buffer("class_counts", torch.zeros(len(SENTIMENT_LABELS)), persistent=False)

    @classmethod
    def create(cls, config: ClassifierConfig, device: Any = "cpu") -> "ClassifierMethod":
        from ...encoders.registry import load_text_encoder

        return cls(config, load_text_encoder(config.encoder, device=device)).to(device)

    def encoder_fingerprint(self) -> str:
        return self.encoder.info.fingerprint

    # -- training ---------------------------------------------------------------
    def prepare(self, examples: Sequence[Example]) -> list[dict[str, torch.Tensor]]:
        rows = [ex for ex in examples if ex.label is not None]
        if not rows:
            return []
        texts = [normalized_text(ex)[0] for ex in rows]
        enc = self.encoder.encode_texts(texts, prefix=self.config.prefix, max_length=self.config.max_length)
        ids = [row[m.bool()] for row, m in zip(enc["input_ids"], enc["attention_mask"])]
        lower = frozen_states(self.encoder, ids, self.live_layer)
        self.class_counts.copy_(class_counts([SENTIMENT_LABELS.index(ex.label) for ex in rows], len(SENTIMENT_LABELS)))
        return [
            {"ids": i, "lower": h, "label": torch.tensor(SENTIMENT_LABELS.index(ex.label))}
            for i, h, ex in zip(ids, lower, rows)
        ]

    def collate(self, items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {
            "lower": pad_stack([it["lower"] for it in items]),
            "attention_mask": pad_stack([torch.ones_like(it["ids"]) for it in items]),
            "label": torch.stack([it["label"] for it in items]),
        }

    def logits_from_hidden(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder.mean_pool(hidden, mask)))

    def forward_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = upper_states(self.encoder, batch["lower"], batch["attention_mask"], self.live_layer)
        loss = imbalanced_cross_entropy(
            self.logits_from_hidden(hidden, batch["attention_mask"]), batch["label"], self.class_counts,
            class_weighting=self.config.class_weighting, logit_adjust=self.config.logit_adjust,
        )
        return {"loss": loss, "classification": loss.detach()}

    # -- inference --------------------------------------------------------------
    @torch.inference_mode()
    def class_probs(self, examples: Sequence[Example], batch_size: int = 32) -> list[tuple[torch.Tensor, tuple[str, ...]]]:
        self.eval()
        prepared = [normalized_text(ex) for ex in examples]
        out: list[Any] = [None] * len(prepared)
        for indices in length_chunks(self.encoder, [t for t, _ in prepared], batch_size, prefix=self.config.prefix):
            chunk = [prepared[i] for i in indices]
            enc = self.encoder.encode_texts([t for t, _ in chunk], prefix=self.config.prefix)
            ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
            probs = self.logits_from_hidden(full_states(self.encoder, ids, mask), mask).softmax(-1).cpu()
            for i, (text, warnings) in enumerate(chunk):
                extra = ()
                if enc["truncated"][i]:
                    extra = (f"text longer than the encoder's {self.encoder.info.max_length} sub-tokens; only the start was read",)
                if not text:
                    extra += ("empty text: the prediction reflects no content",)
                out[indices[i]] = (probs[i], tuple(warnings) + extra)
        return out

    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        return [
            Prediction(
                label=SENTIMENT_LABELS[int(p.argmax())],
                probs={lab: float(v) for lab, v in zip(SENTIMENT_LABELS, p)},
                warnings=w,
            )
            for p, w in self.class_probs(examples, batch_size)
        ]

    def explain(self, example: Example) -> dict[str, Any]:
        pred = self.predict([example])[0]
        probs = dict(pred.probs or {})
        return {"label": pred.label, "probs": probs, "panels": [panel_dict(Distributions("Class probabilities", {"probability": probs}))]}

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        rows = [ex for ex in examples if ex.label is not None]
        if not rows:
            return {"n": 0.0}
        return flat_sentence_metrics(prediction_report([ex.label for ex in rows], self.predict(rows)))
