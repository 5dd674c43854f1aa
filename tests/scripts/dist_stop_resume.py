"""Under torchrun: a stop seen by rank 0 alone stops every rank; `resume` restores every rank.

usage: python tests/scripts/dist_stop_resume.py OUT_JSON MODEL_DIR stop|resume|unshared
("unshared": rank 1 looks for the checkpoint in another folder, as on a node without the filesystem)
"""
import json
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from tests.toy_method import ToyConfig, ToyMethod, toy_examples  # noqa: E402
from xsent_core.methods.base import TrainConfig  # noqa: E402
from xsent_core.training import fit  # noqa: E402
from xsent_core.types import XsentError  # noqa: E402

STOP_AT = 15  # in epoch 2 (12 steps per epoch and rank): the checkpoint holds step 12


def main() -> None:
    out_json, model_dir, phase = sys.argv[1], sys.argv[2], sys.argv[3]
    rank = int(os.environ.get("RANK", "0"))
    torch.set_num_threads(1)
    torch.manual_seed(rank)  # different inits: resume (and the broadcast) must make them equal
    model = ToyMethod(ToyConfig())
    rows = toy_examples(192)
    train = TrainConfig(epochs=4, batch_size=8, device="cpu", select_metric="accuracy")
    cancel, started = threading.Event(), []

    def watch(event, state, payload):
        if event == "start":
            started.append(state.step)
        # rank 0 alone decides, as early stopping (only rank 0 evaluates) does
        if phase == "stop" and rank == 0 and event == "step" and state.step == STOP_AT:
            cancel.set()

    if phase == "unshared" and rank == 1:
        model_dir += "-elsewhere"
    try:
        result = fit(model, model.prepare(rows), train, evaluate=lambda: model.evaluate(rows), out_dir=model_dir,
                     cancel=cancel, resume=phase != "stop", progress=False, callbacks=[watch])
    except XsentError as e:
        Path(f"{out_json}.rank{rank}").write_text(json.dumps({"error": str(e)}))
        return
    weights = [p.detach().flatten() for p in model.parameters()]
    Path(f"{out_json}.rank{rank}").write_text(json.dumps({
        "status": result.status, "steps": result.steps, "started": started[0],
        "checksum": float(torch.cat(weights).double().sum()),
    }))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
