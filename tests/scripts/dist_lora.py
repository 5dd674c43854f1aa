"""Train a LoRA tagger on a tiny random BERT with the shared loop; run under torchrun.

usage: python tests/scripts/dist_lora.py ENCODER_DIR OUT_JSON MODEL_DIR
Writes, per rank, the steps and a checksum of the trained adapters.
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from xsent_core.methods.base import TrainConfig  # noqa: E402
from xsent_core.methods.tagger import TaggerConfig, TaggerMethod  # noqa: E402
from xsent_core.training import fit  # noqa: E402
from xsent_core.types import AspectSpan, Example  # noqa: E402


def main() -> None:
    encoder, out_json, model_dir = sys.argv[1:4]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TaggerMethod.create(TaggerConfig(encoder=encoder, adapt="lora", lora_rank=2, lora_alpha=4.0))
    rows = [
        Example(id=str(i), text="the food was great", spans=(AspectSpan(4, 8, "food", "positive"),))
        for i in range(32)
    ]
    train = TrainConfig(epochs=2, batch_size=4, lr=1e-2, warmup_ratio=0.0, device="cpu")
    result = fit(model, model.prepare(rows), train, out_dir=model_dir, progress=False)
    rank = int(os.environ.get("RANK", "0"))
    adapters = {k: v for k, v in model.trained_state_dict().items() if ".lora_" in k}
    checksum = float(sum(v.double().abs().sum() for v in adapters.values()))
    Path(f"{out_json}.rank{rank}").write_text(json.dumps({"steps": result.steps, "checksum": checksum, "tensors": len(adapters)}))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
