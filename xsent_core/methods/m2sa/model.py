"""M2SA (Thakkar et al., LREC-COLING 2024): pooled text feature and pooled image
feature, concatenated, one linear layer to negative / neutral / positive.

- Text: the encoder's top layers train on cached lower-layer states (as the
  `classifier` baseline does); pooled by mean (builtin e5) or first token
  (XLM-R / mBERT style, the paper's pooled output).
- Image: a frozen image encoder (builtin EfficientNet-Lite0, open_clip, HF
  vision); pooled features are cached on disk by file hash (`features.py`), then
  layer-normalised because their scale has nothing to do with the text's.
- A row without an image gets a learned "no image" vector as its image half.
- `modality="text"` / `"image"` are the paper's unimodal ablations.
Because the head is linear over [text; image], every logit splits exactly into
a text part, an image part and a prior (bias, plus the "no image" vector's part
for rows without an image): `explain()` and `Prediction.extras` report it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from ...evaluation import flat_sentence_metrics, sentence_report
from ...metrics import macro_f1
from ...types import SENTIMENT_LABELS, Example, InputError, Prediction
from ..base import Method
from ..panels import Distributions, panel_dict
from ..common import frozen_states, full_states, length_chunks, normalized_text, pad_stack, upper_states
from .config import M2saConfig
from .features import FeatureCache, check_image, image_features
from .losses import classification_loss, logit_parts, modality_shares

log = logging.getLogger(__name__)

NOT_TRAINED_ON_IMAGES = "this model was trained without images: the image was checked but not used"
TEXT_ONLY_MODEL = "text-only model: the image was not read"
MAX_LISTED = 20  # bad images named in an error message (all of them go to the report)


@dataclass
class M2saItem:
    """One prepared training row; `len()` is its sub-token count (for length bucketing)."""

    label: int
    ids: torch.Tensor | None = None  # [T]
    lower: torch.Tensor | None = None  # [T, H] states after the frozen layers (fp16)
    image: torch.Tensor | None = None  # [D] pooled image feature, None = no image
    lang: str | None = None

    def __len__(self) -> int:
        return 0 if self.ids is None else int(self.ids.numel())


@dataclass
class _Inference:
    """What one forward pass says about one row (internal to predict/explain)."""

    error: str | None
    warnings: tuple[str, ...]
    image_used: bool = False
    probs: torch.Tensor | None = None  # [C]
    logits: torch.Tensor | None = None
    text: torch.Tensor | None = None  # per-class logit parts [C]
    image: torch.Tensor | None = None
    prior: torch.Tensor | None = None
    shares: dict[str, float] | None = None


class M2saMethod(Method):
    name = "m2sa"
    config_cls = M2saConfig
    task = "sentence"
    extra_inputs = frozenset({"image"})
    shows = "class probabilities and how much of each logit came from the text and from the image"
    averageable = True  # a linear head over fixed text and image dimensions

    def __init__(self, config: M2saConfig, encoder: Any = None, image_encoder: Any = None) -> None:
        super().__init__(config)
        if config.uses_text and encoder is None:
            raise InputError(f"m2sa modality {config.modality!r} needs a text encoder")
        if config.uses_image and image_encoder is None:
            raise InputError(f"m2sa modality {config.modality!r} needs an image encoder")
        self.encoder = encoder if config.uses_text else None
        self.image_encoder = image_encoder if config.uses_image else None
        text_dim = image_dim = 0
        if self.encoder is not None:
            if config.train_from_layer > self.encoder.info.num_layers:
                raise InputError(
                    f"m2sa: train_from_layer={config.train_from_layer} but encoder {config.encoder!r} "
                    f"has {self.encoder.info.num_layers} layers"
                )
            self.encoder.freeze(below_layer=config.train_from_layer)
            text_dim = self.encoder.info.hidden_size
            if config.resolved_pooling() == "pooler" and getattr(self.encoder.model, "pooler", None) is None:
                raise InputError(f"m2sa: text_pooling='pooler' but encoder {config.encoder!r} has no pooler layer")
        if self.image_encoder is not None:
            self.image_encoder.requires_grad_(False)
            self.image_encoder.eval()
            image_dim = self.image_encoder.info.feature_dim
        self.image_norm: torch.nn.Module = (
            torch.nn.LayerNorm(image_dim) if image_dim and config.image_norm else torch.nn.Identity()
        )
        # the image half of a row that has no image; learned, not zeros
        self.no_image = torch.nn.Parameter(torch.randn(image_dim) * 0.02) if config.modality == "both" else None
        self.dropout = torch.nn.Dropout(config.dropout)
        self.head = torch.nn.Linear(text_dim + image_dim, len(SENTIMENT_LABELS))
        pooler = getattr(self.encoder.model, "pooler", None) if self.encoder is not None else None
        if pooler is not None:
            # trained with the top layers when it is the text feature; otherwise unused, so kept
            # out of the optimiser and the saved weights
            pooler.requires_grad_(config.resolved_pooling() == "pooler")
        # image rows seen by training steps (repeats counted); 0 = the image half never learned
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))

    # -- construction -----------------------------------------------------------
    @classmethod
    def create(cls, config: M2saConfig, device: Any = "cpu") -> "M2saMethod":
        encoder = image_encoder = None
        if config.uses_text:
            from ...encoders.registry import load_text_encoder

            encoder = load_text_encoder(config.encoder, device=device)
        if config.uses_image:
            from ...encoders.image import load_image_encoder

            image_encoder = load_image_encoder(config.image_encoder, device=device)
        return cls(config, encoder, image_encoder).to(device)

    @classmethod
    def run_preset(cls, preset: Any, out_dir: Any, options: Any) -> dict[str, Any]:
        """`recipes.run_preset` hands M2SA presets here: see `train.py`."""
        from .train import run_preset

        return run_preset(cls, preset, out_dir, options)

    def encoder_fingerprint(self) -> str:
        text = self.encoder.info.fingerprint if self.encoder is not None else "-"
        image = self.image_encoder.info.fingerprint if self.image_encoder is not None else "-"
        return f"text={text};image={image}"

    def train(self, mode: bool = True) -> "M2saMethod":
        super().train(mode)
        if self.image_encoder is not None:
            self.image_encoder.eval()  # frozen: BatchNorm statistics must never move
        return self

    def feature_cache(self) -> FeatureCache | None:
        return FeatureCache(self.image_encoder) if self.image_encoder is not None else None

    @property
    def trained_on_images(self) -> bool:
        return self.config.modality == "image" or int(self.images_seen) > 0

    # -- features ---------------------------------------------------------------
    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooling = self.config.resolved_pooling()
        if pooling == "cls":
            return hidden[:, 0]
        if pooling == "pooler":
            return self.encoder.model.pooler(hidden)
        return self.encoder.mean_pool(hidden, mask)

    def _image_half(self, feats: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
        v = self.image_norm(feats.float())
        if self.no_image is not None:
            v = torch.where(has_image[:, None], v, self.no_image.expand_as(v))
        return v

    def _halves(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        t = v = None
        if self.encoder is not None:
            mask = batch["attention_mask"]
            hidden = upper_states(self.encoder, batch["lower"], mask, self.config.train_from_layer)
            t = self._pool(hidden, mask)
        if self.image_encoder is not None:
            v = self._image_half(batch["image"], batch["has_image"])
        return t, v

    def logits(self, text: torch.Tensor | None, image: torch.Tensor | None) -> torch.Tensor:
        joint = torch.cat([x for x in (text, image) if x is not None], dim=-1)
        return self.head(self.dropout(joint))

    # -- training ---------------------------------------------------------------
    def prepare(self, examples: Sequence[Example]) -> list[M2saItem]:
        items, report = self.prepare_with_report(examples)
        if report["bad_images"]:
            log.warning("m2sa: %d training rows have unreadable images (%s)", len(report["bad_images"]), report["policy"])
        return items

    def prepare_with_report(self, examples: Sequence[Example]) -> tuple[list[M2saItem], dict[str, Any]]:
        """Items for `fit`, plus what happened to images: counts and every bad one listed."""
        was = self.training
        self.eval()  # cached states must not carry dropout noise
        try:
            return self._prepare(examples)
        finally:
            self.train(was)

    def _prepare(self, examples: Sequence[Example]) -> tuple[list[M2saItem], dict[str, Any]]:
        cfg = self.config
        rows = [ex for ex in examples if ex.label is not None]
        report: dict[str, Any] = {
            "rows": len(rows),
            "unlabelled_skipped": len(examples) - len(rows),
            "with_image": 0,
            "images_from_cache": 0,
            "images_encoded": 0,
            "images_ignored": 0,
            "no_image_skipped": 0,
            "bad_images": [],
            "policy": cfg.bad_images,
            "skipped": 0,
        }
        kept: list[tuple[Example, torch.Tensor | None]] = []
        if self.image_encoder is not None:
            results = image_features(
                self.image_encoder, [ex.image for ex in rows], self.feature_cache(), cfg.image_batch_size
            )
            for ex, res in zip(rows, results):
                if res is None:
                    if cfg.modality == "image":
                        report["no_image_skipped"] += 1
                    else:
                        kept.append((ex, None))
                    continue
                if res.error is not None:
                    report["bad_images"].append({"id": ex.id, "image": ex.image, "error": res.error})
                    if cfg.bad_images == "text" and cfg.modality == "both":
                        kept.append((ex, None))
                    else:
                        report["skipped"] += 1
                    continue
                report["images_from_cache" if res.cached else "images_encoded"] += 1
                report["with_image"] += 1
                kept.append((ex, res.feature))
        else:
            report["images_ignored"] = sum(1 for ex in rows if ex.image)
            kept = [(ex, None) for ex in rows]
        if cfg.bad_images == "error" and report["bad_images"]:
            bad = report["bad_images"]
            listing = "; ".join(f"{b['id']}: {b['error']}" for b in bad[:MAX_LISTED])
            more = f" (and {len(bad) - MAX_LISTED} more)" if len(bad) > MAX_LISTED else ""
            raise InputError(
                f"{len(bad)} training rows have unreadable images: {listing}{more}. "
                "Fix or remove them, or set bad_images to 'skip' or 'text'"
            )
        items = [
            M2saItem(label=SENTIMENT_LABELS.index(ex.label), image=feat, lang=ex.lang)  # type: ignore[arg-type]
            for ex, feat in kept
        ]
        if self.encoder is not None and items:
            texts = [normalized_text(ex)[0] for ex, _ in kept]
            enc = self.encoder.encode_texts(texts, prefix=cfg.resolved_prefix(), max_length=cfg.max_length)
            ids = [row[m.bool()] for row, m in zip(enc["input_ids"], enc["attention_mask"])]
            lower = frozen_states(self.encoder, ids, cfg.train_from_layer)
            for item, i, h in zip(items, ids, lower):
                item.ids, item.lower = i, h
        return items, report

    def collate(self, items: Sequence[M2saItem]) -> dict[str, torch.Tensor]:
        batch = {"label": torch.tensor([it.label for it in items], dtype=torch.long)}
        if self.encoder is not None:
            batch["lower"] = pad_stack([it.lower for it in items])  # type: ignore[misc]
            batch["attention_mask"] = pad_stack([torch.ones_like(it.ids) for it in items])  # type: ignore[arg-type]
        if self.image_encoder is not None:
            dim = self.image_encoder.info.feature_dim
            batch["image"] = torch.stack([it.image if it.image is not None else torch.zeros(dim) for it in items])
            batch["has_image"] = torch.tensor([it.image is not None for it in items], dtype=torch.bool)
        return batch

    def forward_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        t, v = self._halves(batch)
        loss = classification_loss(self.logits(t, v), batch["label"])
        if self.training and "has_image" in batch:
            self.images_seen += batch["has_image"].sum().to(self.images_seen.device)
        return {"loss": loss, "classification": loss.detach()}

    @torch.inference_mode()
    def evaluate_prepared(self, items: Sequence[M2saItem], batch_size: int = 64) -> dict[str, float]:
        """Scores on prepared items (cached lower states): cheap dev evaluation while training."""
        was = self.training
        self.eval()
        gold, pred, langs = [], [], []
        try:
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                batch = {k: v.to(self.device) for k, v in self.collate(chunk).items()}
                t, v = self._halves(batch)
                pred += [SENTIMENT_LABELS[i] for i in self.logits(t, v).argmax(-1).tolist()]
                gold += [SENTIMENT_LABELS[it.label] for it in chunk]
                langs += [it.lang for it in chunk]
        finally:
            self.train(was)
        return _scores(gold, pred, langs)

    # -- inference --------------------------------------------------------------
    @torch.inference_mode()
    def _infer(self, examples: Sequence[Example], batch_size: int = 32) -> list[_Inference]:
        self.eval()
        out: list[Any] = [None] * len(examples)
        for indices in length_chunks(self.encoder, [ex.text for ex in examples], batch_size):
            for index, result in zip(indices, self._infer_chunk([examples[i] for i in indices])):
                out[index] = result
        return out

    def _infer_chunk(self, chunk: Sequence[Example]) -> list[_Inference]:
        cfg = self.config
        n = len(chunk)
        warnings: list[list[str]] = [[] for _ in range(n)]
        errors: list[str | None] = [None] * n
        texts = [""] * n
        if self.encoder is not None:
            for i, ex in enumerate(chunk):
                texts[i], w = normalized_text(ex)
                warnings[i].extend(w)
        feats: list[torch.Tensor | None] = [None] * n
        if self.image_encoder is not None:
            if self.trained_on_images:
                results = image_features(
                    self.image_encoder, [ex.image for ex in chunk], self.feature_cache(), cfg.image_batch_size
                )
                for i, res in enumerate(results):
                    if res is not None:
                        if res.error is not None:
                            errors[i] = res.error
                        else:
                            feats[i] = res.feature
            else:
                for i, ex in enumerate(chunk):
                    if ex.image:
                        errors[i] = check_image(ex.image)
                        if errors[i] is None:
                            warnings[i].append(NOT_TRAINED_ON_IMAGES)
            if cfg.modality == "image":
                for i, ex in enumerate(chunk):
                    if not ex.image and errors[i] is None:
                        errors[i] = "the image-only M2SA model needs an image; this row has none"
        else:
            for i, ex in enumerate(chunk):
                if ex.image:
                    warnings[i].append(TEXT_ONLY_MODEL)
        for i in range(n):
            if errors[i] is not None:
                errors[i] = f"{errors[i]}; the row was not predicted" + (
                    " (remove its 'image' to predict from the text alone)" if cfg.modality == "both" else ""
                )
        ok = [i for i in range(n) if errors[i] is None]
        results_out = [_Inference(error=errors[i], warnings=tuple(warnings[i])) for i in range(n)]
        if not ok:
            return results_out
        device = self.device
        t = v = None
        has = torch.tensor([feats[i] is not None for i in ok], dtype=torch.bool, device=device)
        if self.encoder is not None:
            enc = self.encoder.encode_texts([texts[i] for i in ok], prefix=cfg.resolved_prefix())
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            t = self._pool(full_states(self.encoder, ids, mask), mask)
            for row, i in enumerate(ok):
                if enc["truncated"][row]:
                    warnings[i].append(
                        f"text longer than the encoder's {self.encoder.info.max_length} sub-tokens; only the start was read"
                    )
                if not texts[i].strip() and not bool(has[row]):
                    warnings[i].append("empty text and no image the model can use: the prediction reflects no content")
        if self.image_encoder is not None:
            dim = self.image_encoder.info.feature_dim
            stacked = torch.stack([feats[i] if feats[i] is not None else torch.zeros(dim) for i in ok]).to(device)
            v = self._image_half(stacked, has)
        logits = self.logits(t, v).float()
        parts = logit_parts(self.head.weight.float(), self.head.bias.float(), t, v)
        image_part, prior = parts["image"], parts["bias"]
        if self.no_image is not None:
            # without an image, the "no image" vector's part is a learned prior, not evidence
            missing = (~has)[:, None]
            prior = prior + torch.where(missing, image_part, torch.zeros_like(image_part))
            image_part = torch.where(missing, torch.zeros_like(image_part), image_part)
        predicted = logits.argmax(-1)
        shares = modality_shares(parts["text"], image_part, predicted)
        probs = logits.softmax(-1).cpu()
        for row, i in enumerate(ok):
            results_out[i] = _Inference(
                error=None,
                warnings=tuple(warnings[i]),
                image_used=bool(has[row]),
                probs=probs[row],
                logits=logits[row].cpu(),
                text=parts["text"][row].cpu(),
                image=image_part[row].cpu(),
                prior=prior[row].cpu(),
                shares={
                    "text": float(shares["text"][row]),
                    "image": float(shares["image"][row]),
                },
            )
        return results_out

    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        out = []
        for r in self._infer(examples, batch_size):
            if r.error is not None or r.probs is None:
                out.append(Prediction(error=r.error, warnings=r.warnings, extras={"modality": self.config.modality}))
                continue
            out.append(
                Prediction(
                    label=SENTIMENT_LABELS[int(r.probs.argmax())],
                    probs={lab: float(p) for lab, p in zip(SENTIMENT_LABELS, r.probs)},
                    warnings=r.warnings,
                    extras={
                        "modality": self.config.modality,
                        "image_used": r.image_used,
                        "modality_share": r.shares,
                    },
                    notes=modality_notes(r.shares),
                )
            )
        return out

    def explain(self, example: Example) -> dict[str, Any]:
        """Which modality drove the prediction.

        `logit_parts[k]` gives, per class, the text part, the image part and the
        prior (head bias, plus the "no image" vector's part when the row has no
        image); they add up to `logits` exactly. `modality_share` is computed on
        the predicted class's logit minus the mean logit over classes (softmax
        ignores a shift shared by all classes): |text| / (|text| + |image|).
        """
        r = self._infer([example], 1)[0]
        base: dict[str, Any] = {"modality": self.config.modality, "warnings": list(r.warnings)}
        if r.error is not None or r.probs is None:
            return {**base, "error": r.error}
        label = SENTIMENT_LABELS[int(r.probs.argmax())]
        k = SENTIMENT_LABELS.index(label)

        def per_class(t: torch.Tensor) -> dict[str, float]:
            return {lab: float(x) for lab, x in zip(SENTIMENT_LABELS, t)}

        def centred(t: torch.Tensor) -> float:
            return float(t[k] - t.mean())

        assert r.text is not None and r.image is not None and r.prior is not None and r.logits is not None
        return {
            **base,
            "label": label,
            "probs": per_class(r.probs),
            "image_used": r.image_used,
            "modality_share": r.shares,
            "logits": per_class(r.logits),
            "logit_parts": {"text": per_class(r.text), "image": per_class(r.image), "prior": per_class(r.prior)},
            "predicted_margin": {"text": centred(r.text), "image": centred(r.image), "prior": centred(r.prior)},
            "panels": [
                panel_dict(Distributions("Class probabilities", {"probability": per_class(r.probs)})),
                panel_dict(Distributions("Each class's logit: text part, image part and prior (they add up)", {
                    "text": per_class(r.text), "image": per_class(r.image), "prior": per_class(r.prior)})),
            ],
        }

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        rows = [ex for ex in examples if ex.label is not None]
        preds = self.predict(rows)
        scores = _scores([ex.label for ex in rows], [p.label for p in preds], [ex.lang for ex in rows])
        scores["errors"] = float(sum(p.error is not None for p in preds))
        return scores


def _scores(gold: Sequence[Any], pred: Sequence[Any], langs: Sequence[str | None]) -> dict[str, float]:
    """accuracy / macro-F1 overall and, with several languages, per language.

    A row that could not be predicted (pred None) counts as wrong.
    """
    out = flat_sentence_metrics(sentence_report(gold, pred)) if gold else {"accuracy": 0.0, "macro_f1": 0.0, "n": 0.0}
    present = sorted({lang for lang in langs if lang})
    if len(present) > 1:
        for lang in present:
            idx = [i for i, x in enumerate(langs) if x == lang]
            out[f"macro_f1_{lang}"] = macro_f1([gold[i] for i in idx], [pred[i] for i in idx])
    return out


def modality_notes(shares: Any) -> tuple[str, ...]:
    """'Modality share: text 70%, image 30%' for a person reading the prediction."""
    if not isinstance(shares, Mapping) or not shares:
        return ()
    return ("Modality share: " + ", ".join(f"{k} {float(v):.0%}" for k, v in shares.items()),)
