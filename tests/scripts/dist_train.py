"""Train the toy method with the shared loop; run under torchrun to test data parallelism.

usage: python tests/scripts/dist_train.py OUT_JSON MODEL_DIR
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from tests.toy_method import ToyConfig, ToyMethod, toy_examples  # noqa: E402
from xsent_core.methods.base import TrainConfig  # noqa: E402
from xsent_core.training import fit  # noqa: E402


def main() -> None:
    out_json, model_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ToyMethod(ToyConfig())
    rows = toy_examples(192)
    train = TrainConfig(epochs=20, batch_size=8, lr=0.02, head_lr=0.02, warmup_ratio=0.0, device="cpu", select_metric="accuracy")
    result = fit(model, model.prepare(rows), train, evaluate=lambda: model.evaluate(rows), out_dir=model_dir, progress=False)
    rank = int(os.environ.get("RANK", "0"))
    final = model.evaluate(rows)
    Path(f"{out_json}.rank{rank}").write_text(json.dumps({"steps": result.steps, "best": result.best_metric, "final": final}))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
