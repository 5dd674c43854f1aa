"""MSMO settings: the model/loss config (saved with every model) and the
training recipe (which data views, teachers, steps), kept apart so a saved
model's config says how it computes, not how it was fed.

Paper values (MSMO-ABSA, ACL 2026) are the defaults. What the paper leaves
open follows the authors' code (../shared/notes/methods.md): 5 critic steps per
tagger step, critic weights clipped to [-0.01, 0.01].
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from ...types import XsentError
from ..tagger.model import TaggerConfig

# beta per target language (paper, section "Loss & Training"; order FR, ES, NL, RU)
PAPER_BETA_MBERT: dict[str, float] = {"fr": 4.5e-4, "es": 2.5e-4, "nl": 2.5e-4, "ru": 3.5e-4}
PAPER_BETA_XLMR: dict[str, float] = {"fr": 2.5e-3, "es": 1.5e-3, "nl": 1.5e-3, "ru": 3.5e-3}

VIEWS: tuple[str, ...] = ("source", "cs_src", "smt", "cs_tgt")
# source domain = English sentences (gold-en-train, cs_X-en: English with X terms);
# target domain = target-language sentences (smt-X-train, cs_en-X: X with English terms)
SOURCE_VIEWS = frozenset({"source", "cs_src"})
TARGET_VIEWS = frozenset({"smt", "cs_tgt"})


@dataclass(frozen=True)
class MsmoConfig(TaggerConfig):
    """Tagger (13 BIES tags, first sub-token per word) + MSMO's two alignment losses."""

    train_from_layer: int = 10  # layers below are frozen and cached
    # (a) sentence level: Wasserstein critic Q on mean-pooled top-layer features
    adversarial: bool = True
    critic_hidden: int = 256  # 0 = a linear critic
    critic_steps: int = 5  # critic updates per tagger step (n_critic)
    critic_clip: float = 0.01  # critic weights clamped to [-c, c] after every update
    critic_lr: float = 5e-4  # RMSprop, as WGAN recommends with weight clipping
    critic_buffer: int = 4  # recent batches of pooled features the critic trains on
    adv_weight: float = 1.0  # lambda of the gradient-reversal layer (paper: 1)
    # "dann": lambda grows as 2 / (1 + exp(-10 p)) - 1 over the adversarial phase (Ganin et al.), so the
    # critic's push starts at 0 while the tagger is untrained; "none": full lambda from step 0
    adv_ramp: str = "dann"
    # Lipschitz constraint: "clip" (WGAN weight clipping, RMSprop) or "gp" (WGAN-GP gradient penalty, Adam)
    critic_penalty: str = "clip"
    gp_weight: float = 10.0
    adv_hinge: bool = False  # encoder term max(W, 0): no push while the critic lags (see losses)
    grad_probe_every: int = 25  # steps between measurements of each term's gradient at the encoder output; 0 = off
    # (b) aspect level: bidirectional KL between aligned span polarity distributions
    consistency: bool = True
    beta: dict[str, float] = field(default_factory=lambda: dict(PAPER_BETA_MBERT))
    default_beta: float = 3.25e-4  # languages missing from `beta`
    # "two_stage" (paper): adversarial alignment for the first `stage1_fraction` of
    # the steps, then consistency; "joint" (authors' code): both in every step.
    schedule: str = "two_stage"
    stage1_fraction: float = 0.5
    # distillation batches: "kl" (KL to temperature-softened teacher tags, the paper's KD) or "mse"
    distill_loss: str = "kl"
    distill_temperature: float = 2.0

    def __post_init__(self) -> None:
        if self.adv_ramp not in ("dann", "none") or self.critic_penalty not in ("clip", "gp"):
            raise XsentError(
                f"msmo: adv_ramp must be 'dann' or 'none' and critic_penalty 'clip' or 'gp', "
                f"got {self.adv_ramp!r} and {self.critic_penalty!r}"
            )
        if self.distill_loss not in ("kl", "mse") or self.distill_temperature <= 0:
            raise XsentError(
                f"msmo: distill_loss must be 'kl' or 'mse' and distill_temperature > 0, "
                f"got {self.distill_loss!r} and {self.distill_temperature}"
            )
        if self.schedule not in ("two_stage", "joint"):
            raise XsentError(f"msmo: schedule must be 'two_stage' or 'joint', got {self.schedule!r}")
        if self.critic_clip <= 0 or self.critic_steps < 0 or not 0.0 <= self.stage1_fraction <= 1.0:
            raise XsentError("msmo: critic_clip must be > 0, critic_steps >= 0, stage1_fraction in [0, 1]")

    def beta_for(self, lang: str | None) -> float:
        return float(self.beta.get(lang or "", self.default_beta))


STUDENT_INITS: tuple[str, ...] = ("translate-train", "teacher", "encoder")
TRANSLATE_TRAIN_VIEWS: tuple[str, ...] = ("source", "smt")


@dataclass(frozen=True)
class MsmoRecipe:
    """How `run_preset` trains: data views, stage, teachers, student."""

    langs: tuple[str, ...] = ("fr",)
    stage: str = "msmo"  # "msmo" | "distill"
    views: tuple[str, ...] = VIEWS  # labelled views the tagger's CE sees
    max_pairs: int | None = None  # per language and view pair (subsample, seed 0)
    translations: bool = True  # pair each English sentence with its translation for consistency
    clean_projected: bool = True  # strip leading articles off projected target spans (data.span_cleanup)
    critic_text: bool = True  # the critic's target side also reads gold-X-train text (labels unused)
    eval_every: int | None = None  # optimiser steps between dev evaluations
    # distillation: one teacher per entry, each trained with MSMO on the views
    # joined by "+" (the critic runs only when both domains are present)
    teachers: tuple[str, ...] = ("source+cs_src+smt+cs_tgt", "source", "smt+cs_tgt")
    teacher_weights: tuple[float, ...] = (1.0, 1.0, 1.0)  # normalised; paper: w_k = 1/3
    teacher_seeds: tuple[int, ...] = ()  # default: the training seed + index
    distill_steps: int | None = None  # default: the preset's max_steps
    distill_lr: float | None = None  # default: the preset's lr
    # "translate-train" (the paper's: a tagger trained with CE on the source and translated views, no
    # critic/consistency) | "teacher" (copy teacher 0) | "encoder" (fresh head)
    student_init: str = "translate-train"
    max_unlabelled: int | None = None  # per language
    # a saved tagger/msmo model ("{assets}/starts/tagger-seed15") whose adaptation + tag head every model of the
    # run starts from (translate-train start, teachers, msmo): the English stage done once, not per teacher
    init_from: str | None = None
    # a language left out of the student's unlabelled text (the unseen-language guard: its test
    # figure is then on a language the student never read); teachers still see its views
    student_heldout: str | None = None

    def __post_init__(self) -> None:
        if self.stage not in ("msmo", "distill"):
            raise XsentError(f"msmo recipe: stage must be 'msmo' or 'distill', got {self.stage!r}")
        bad = [v for v in self.views if v not in VIEWS]
        bad += [v for t in self.teachers for v in t.split("+") if v not in VIEWS]
        if bad:
            raise XsentError(f"msmo recipe: unknown views {bad}; views are {', '.join(VIEWS)}")
        if self.stage == "distill" and len(self.teacher_weights) != len(self.teachers):
            raise XsentError(
                f"msmo recipe: {len(self.teachers)} teachers but {len(self.teacher_weights)} teacher_weights"
            )
        if self.student_init not in STUDENT_INITS:
            raise XsentError(
                f"msmo recipe: student_init must be one of {', '.join(STUDENT_INITS)}, got {self.student_init!r}"
            )


_MODEL_KEYS = frozenset(f.name for f in fields(MsmoConfig))
_RECIPE_KEYS = frozenset(f.name for f in fields(MsmoRecipe))


def split_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Preset/CLI settings -> (MsmoConfig keys, MsmoRecipe keys); unknown keys refused."""
    unknown = sorted(set(settings) - _MODEL_KEYS - _RECIPE_KEYS)
    if unknown:
        raise XsentError(
            f"msmo: unknown settings {unknown}; model settings: {', '.join(sorted(_MODEL_KEYS))}; "
            f"recipe settings: {', '.join(sorted(_RECIPE_KEYS))}"
        )
    model = {k: v for k, v in settings.items() if k in _MODEL_KEYS}
    recipe = {k: v for k, v in settings.items() if k in _RECIPE_KEYS}
    return model, recipe
