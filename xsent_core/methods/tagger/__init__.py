"""`tagger`: the token-classification baseline (MSMO's zero-shot row)."""
from ..base import Preset, TrainConfig
from .model import TaggerConfig, TaggerMethod

_SEMEVAL = "semeval:{data}/semeval16_restaurants/gold-{lang}-{split}.txt"
_TESTS = {lang: _SEMEVAL.format(data="{data}", lang=lang, split="test") for lang in ("en", "fr", "es", "nl", "ru")}

PRESETS = {
    "tagger-builtin": Preset(
        name="tagger-builtin",
        method="tagger",
        description=(
            "English SemEval-2016 restaurants plus contrastive rows (an all-positive and an all-negative "
            "sentence joined, half of them with ', but'), builtin e5-small encoder; layers 0-5 frozen "
            "(cached), LoRA rank 16 on the top 6 layers' attention and feed-forward projections + linear "
            "head; 7 epochs (about 10 minutes on 2 CPU cores), best epoch on English dev. The shipped "
            "default: at an equal 10-minute budget it beat top-6 layers, LoRA on all 12 layers and full "
            "fine-tuning on the FR/ES/NL/RU average (benchmarks/results/adaptation.md) and saves 1.4 MB."
        ),
        config={
            "encoder": "builtin", "adapt": "lora", "lora_from_layer": 6, "lora_rank": 16, "lora_alpha": 32.0,
            "train_from_layer": 6, "contrastive_augment": 0.5,
        },
        train=TrainConfig(epochs=7, batch_size=16, lr=1e-3, head_lr=1e-3, select_metric="f1"),
        data={
            "train": _SEMEVAL.format(data="{data}", lang="en", split="train"),
            "dev": _SEMEVAL.format(data="{data}", lang="en", split="dev"),
            "test": _TESTS,
        },
    ),
    "tagger-tiny": Preset(
        name="tagger-tiny",
        smoke=True,
        method="tagger",
        description="A few steps on 64 English sentences: for tests and smoke runs only.",
        config={"encoder": "builtin", "train_from_layer": 11},
        train=TrainConfig(epochs=1, max_steps=4, batch_size=16, select_metric="f1"),
        data={
            "train": _SEMEVAL.format(data="{data}", lang="en", split="train") + "#64",
            "dev": _SEMEVAL.format(data="{data}", lang="en", split="dev") + "#32",
        },
    ),
}

__all__ = ["PRESETS", "TaggerConfig", "TaggerMethod"]
