"""Weight-space interpolation toward the pretrained encoder (WiSE-FT, Wortsman et al. 2022) for a LoRA model.

    python benchmarks/wise_ft.py --model assets/models/tagger --alphas 1.0 0.9 0.8 0.7

WiSE-FT mixes a fine-tuned model with its zero-shot start, (1 - a)·W0 + a·W_ft, and is
reported to keep the start's robustness to distribution shift; for a zero-shot
cross-lingual tagger the shift is another language. With LoRA, W_ft = W0 + B·A, so
the mix is the same adapters with B scaled by a; heads and any trained layers are
kept (the encoder has no zero-shot tagging head to mix with). Each scaled model
is scored in this run on the model's preset data (dev = English dev, the only
set a zero-shot model may choose on). Writes benchmarks/results/wise_ft_<name>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.soup import RESULTS, data_sets, figures, score  # noqa: E402


def scaled_copy(model: Path, alpha: float, out: Path) -> Path:
    """`model`'s folder with every LoRA B scaled by `alpha` (its delta B·A scaled by alpha)."""
    from safetensors.torch import load_file, save_file

    from xsent_core.encoders.lora import ADAPTER_KEY

    state = load_file(str(model / "model.safetensors"))
    if not any(ADAPTER_KEY.match(name) for name in state):
        raise SystemExit(f"{model}: no LoRA adapters to scale")
    scaled = {}
    for name, tensor in state.items():
        match = ADAPTER_KEY.match(name)
        scaled[name] = (tensor.float() * alpha).to(tensor.dtype) if match and match["half"] == "B" else tensor
    shutil.copytree(model, out)
    save_file(scaled, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="a LoRA model folder")
    p.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.7])
    p.add_argument("--name", default="tagger", help="results file suffix (wise_ft_<name>.json)")
    args = p.parse_args(argv)

    from benchmarks.machine import machine_facts
    from xsent_core.recipes import get_preset, load_data
    from xsent_core.registry import read_model_card

    card = read_model_card(args.model)
    if card.config.get("adapt") != "lora":
        p.error(f"{args.model} is not a LoRA model (adapt={card.config.get('adapt')!r})")
    spec = get_preset(card.method, card.training["preset"]).data
    sets = {name: load_data(s) for name, s in data_sets(spec).items()}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for alpha in args.alphas:
            folder = scaled_copy(args.model, alpha, Path(tmp) / f"alpha-{alpha}")
            rows[str(alpha)] = {k: round(v, 2) for k, v in figures(score(folder, sets)).items()}
            print(alpha, json.dumps(rows[str(alpha)]), flush=True)
    chosen = max(rows, key=lambda a: rows[a]["dev"])
    result = {
        "command": "python benchmarks/wise_ft.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": machine_facts(),
        "model": str(args.model),
        "data": dict(spec),
        "note": "points (x100), span micro-F1 (or 3-class macro-F1); alpha scales the LoRA delta (1 = the model as "
                "trained, 0 = the pretrained encoder under the trained head); target_avg = mean of the non-English "
                "test sets; chosen_on_dev = the alpha an English-dev choice ships",
        "by_alpha": rows,
        "chosen_on_dev": chosen,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"wise_ft_{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    keys = list(rows[str(args.alphas[0])])
    lines = [f"# WiSE-FT on {args.model}", "", f"`{result['command']}`", "", result["note"], "",
             "| alpha | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| {a} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |" for a, r in rows.items()]
    lines += ["", f"Chosen on English dev: alpha {chosen}."]
    (RESULTS / f"wise_ft_{args.name}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
