"""`classifier`: sentence sentiment baseline (encoder top layers + linear head)."""
from ..base import Preset, TrainConfig
from .model import ClassifierConfig, ClassifierMethod

_SEMEVAL = "semeval:{data}/semeval16_restaurants/gold-{lang}-{split}.txt"
_LANGS = ("en", "fr", "es", "nl", "ru")

PRESETS = {
    "classifier-builtin": Preset(
        name="classifier-builtin",
        method="classifier",
        description=(
            "Burmese sentence polarity: GKLMIP product reviews (80% of train; stars 1-2/3-4/5 = "
            "negative/neutral/positive), builtin encoder with LoRA rank 8 on all 12 layers, balanced class "
            "weights (chosen by benchmarks/adaptation.py). Other languages are read zero-shot through the "
            "multilingual encoder (SemEval test sets scored). The shipped default."
        ),
        config={
            "encoder": "builtin", "adapt": "lora", "lora_rank": 8, "lora_alpha": 16.0, "lora_from_layer": 0,
            "class_weighting": "balanced",
        },
        train=TrainConfig(epochs=2, batch_size=16, lr=5e-4, head_lr=1e-3, select_metric="macro_f1"),
        data={
            "train": "gklmip:{data}/gklmip_myanmar_sentiment/train.json@train",
            "dev": "gklmip:{data}/gklmip_myanmar_sentiment/train.json@select",
            "test": {
                "my-dev": "gklmip:{data}/gklmip_myanmar_sentiment/dev.json",
                **{l: _SEMEVAL.format(data="{data}", lang=l, split="test") for l in _LANGS},
            },
        },
    ),
    "classifier-multilingual": Preset(
        name="classifier-multilingual",
        method="classifier",
        description=(
            "Multilingual sentence polarity: SemEval-2016 restaurant sentences of all five "
            "languages (label derived from aspects) plus GKLMIP Burmese reviews (80% of train; "
            "stars 1-2/3-4/5), builtin encoder, top 2 layers + linear head (the default before issue 12)."
        ),
        config={"encoder": "builtin", "train_from_layer": 10},
        train=TrainConfig(epochs=2, batch_size=16, lr=5e-5, head_lr=1e-3, select_metric="macro_f1"),
        data={
            "train": [_SEMEVAL.format(data="{data}", lang=l, split="train") for l in _LANGS]
            + ["gklmip:{data}/gklmip_myanmar_sentiment/train.json@train"],
            "dev": [_SEMEVAL.format(data="{data}", lang=l, split="dev") for l in _LANGS]
            + ["gklmip:{data}/gklmip_myanmar_sentiment/train.json@select"],
            "test": {
                **{l: _SEMEVAL.format(data="{data}", lang=l, split="test") for l in _LANGS},
                "my-dev": "gklmip:{data}/gklmip_myanmar_sentiment/dev.json",
            },
        },
    ),
    "classifier-en": Preset(
        name="classifier-en",
        method="classifier",
        description="English-only SemEval sentence polarity (monolingual baseline for M2SA/LFD-RT benchmarks).",
        config={"encoder": "builtin", "train_from_layer": 10},
        train=TrainConfig(epochs=4, batch_size=16, lr=5e-5, head_lr=1e-3, select_metric="macro_f1"),
        data={
            "train": _SEMEVAL.format(data="{data}", lang="en", split="train"),
            "dev": _SEMEVAL.format(data="{data}", lang="en", split="dev"),
            "test": {l: _SEMEVAL.format(data="{data}", lang=l, split="test") for l in _LANGS},
        },
    ),
    "classifier-tiny": Preset(
        name="classifier-tiny",
        smoke=True,
        method="classifier",
        description="A few steps on 64 English sentences: for tests and smoke runs only.",
        config={"encoder": "builtin", "train_from_layer": 11},
        train=TrainConfig(epochs=1, max_steps=4, batch_size=16, select_metric="macro_f1"),
        data={
            "train": _SEMEVAL.format(data="{data}", lang="en", split="train") + "#64",
            "dev": _SEMEVAL.format(data="{data}", lang="en", split="dev") + "#32",
        },
    ),
}

__all__ = ["PRESETS", "ClassifierConfig", "ClassifierMethod"]
