"""`msmo`: MSMO-ABSA (Multi-Scale and Multi-Objective optimisation for
cross-lingual aspect-based sentiment, ACL 2026) on the xsent foundation.

Public API:
- `MsmoMethod`, `MsmoConfig` (model + losses), `MsmoRecipe` (training recipe), `PRESETS`;
- `distill_from_examples(teachers, examples, ...)`: the distillation job (store rows
  with corrected spans are hard labels, the rest get teacher soft labels);
- `train_msmo`, `training_pairs`, `load_views` (recipe pieces), `code_switched_pairs.align`;
- `losses`: the pure loss functions.
"""
from .config import MsmoConfig, MsmoRecipe
from .distill import DistillResult, distill_from_examples
from .model import MsmoMethod
from .presets import PRESETS
from .train import load_views, train_msmo, training_pairs

__all__ = [
    "PRESETS",
    "DistillResult",
    "MsmoConfig",
    "MsmoMethod",
    "MsmoRecipe",
    "distill_from_examples",
    "load_views",
    "train_msmo",
    "training_pairs",
]

