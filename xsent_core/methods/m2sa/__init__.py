"""`m2sa`: multimodal, multilingual sentence sentiment (text + image -> linear head).

See `model.py` for the model, `features.py` for the image-feature cache,
`importer.py` for the M2SA release layout and `train.py` for the preset runner.
"""
from __future__ import annotations

from ..base import Preset, TrainConfig
from .config import M2saConfig
from .model import M2saItem, M2saMethod

_SEMEVAL = "semeval:{data}/semeval16_restaurants/gold-{lang}-{split}.txt"
LANGS = ("en", "es", "fr", "nl", "ru")
# the paper's best model: sentiment-tuned XLM-R (its pooled output) + CLIP ViT-B/32 (vision pooled output)
PAPER_TEXT = "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual"
PAPER_IMAGE = "hf:openai/clip-vit-base-patch32"


def _semeval(split: str) -> list[str]:
    return [_SEMEVAL.format(data="{data}", lang=lang, split=split) for lang in LANGS]


PRESETS = {
    "m2sa-builtin": Preset(
        name="m2sa-builtin",
        method="m2sa",
        description=(
            "Multilingual M2SA on the builtin encoders (e5-small text, EfficientNet-Lite0 image), trained on "
            "SemEval-2016 restaurant sentence polarity of all five languages (EN/ES/FR/NL/RU, label derived from "
            "the aspects). Text only: no redistributable image set with sentiment labels exists, so every "
            "training row uses the learned 'no image' vector; the model says so when given an image. Top 2 text "
            "layers + head; under 30 minutes on 2 CPU cores. The shipped default."
        ),
        config={"encoder": "builtin", "image_encoder": "builtin", "modality": "both", "train_from_layer": 10},
        train=TrainConfig(epochs=4, batch_size=16, lr=5e-5, head_lr=1e-3, select_metric="macro_f1"),
        data={
            "train": _semeval("train"),
            "dev": _semeval("dev"),
            "test": {lang: _SEMEVAL.format(data="{data}", lang=lang, split="test") for lang in LANGS},
        },
    ),
    "m2sa-paper": Preset(
        name="m2sa-paper",
        method="m2sa",
        description=(
            "The paper's best setting (X-SM+C) for GPU users: twitter-xlm-roberta-base-sentiment-multilingual "
            "(pooled output, all layers trained; embeddings frozen) + CLIP ViT-B/32 vision pooled output, "
            "concatenated, linear head; lr 5e-5 for everything, batch 8, weight decay 0.1, no warm-up, up to 50 "
            "epochs with early stopping after 3 evaluations (every 500 steps) without a better dev macro-F1, seed 42. "
            "Multilingual: one model over all languages. Data: your M2SA tweets imported with "
            "`python -m xsent_core.methods.m2sa.importer` into $XSENT_M2SA_DATA (default ~/.cache/xsent/m2sa). "
            "Both models must be in the local Hugging Face cache. Differences from the paper's code: AdamW instead "
            "of Adafactor, fp32, and the vision tower stays frozen (its features are cached), where the paper's "
            "script fine-tunes it."
        ),
        config={
            "encoder": PAPER_TEXT,
            "image_encoder": PAPER_IMAGE,
            "modality": "both",
            "train_from_layer": 0,
            "text_pooling": "pooler",
            "max_length": 512,
            "dropout": 0.0,
            "image_norm": False,
            "bad_images": "skip",
            "early_stopping_patience": 3,
        },
        train=TrainConfig(
            epochs=50,
            batch_size=8,
            lr=5e-5,
            head_lr=5e-5,
            weight_decay=0.1,
            warmup_ratio=0.0,
            seed=42,
            eval_every=500,
            select_metric="macro_f1",
        ),
        data={
            "train": "jsonl:{m2sa}/train.jsonl",
            "dev": "jsonl:{m2sa}/dev.jsonl",
            "test": {"all": "jsonl:{m2sa}/test.jsonl"},
        },
    ),
    "m2sa-tiny": Preset(
        name="m2sa-tiny",
        smoke=True,
        method="m2sa",
        description="A few steps on 64 English sentences: for tests and smoke runs only.",
        config={"encoder": "builtin", "image_encoder": "builtin", "modality": "both", "train_from_layer": 11},
        train=TrainConfig(epochs=1, max_steps=4, batch_size=16, select_metric="macro_f1"),
        data={
            "train": _SEMEVAL.format(data="{data}", lang="en", split="train") + "#64",
            "dev": _SEMEVAL.format(data="{data}", lang="en", split="dev") + "#32",
        },
    ),
}

__all__ = ["LANGS", "PRESETS", "M2saConfig", "M2saItem", "M2saMethod"]
