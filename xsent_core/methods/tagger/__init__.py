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
            "English SemEval-2016 restaurants, builtin e5-small encoder; embeddings and layers 0-5 frozen "
            "(cached), top 6 layers + linear head trained; 10 epochs (about 8 minutes on 2 CPU cores). "
            "The shipped default: training only the top 2 layers gave EN/FR test F1 46.4/37.7 against 61.4/42.9."
        ),
        config={"encoder": "builtin", "train_from_layer": 6},
        train=TrainConfig(epochs=10, batch_size=16, lr=5e-5, head_lr=1e-3, select_metric="f1"),
        data={
            "train": _SEMEVAL.format(data="{data}", lang="en", split="train"),
            "dev": _SEMEVAL.format(data="{data}", lang="en", split="dev"),
            "test": _TESTS,
        },
    ),
    "tagger-tiny": Preset(
        name="tagger-tiny",
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
