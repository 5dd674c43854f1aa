"""Uniform model soups against their members: does averaging seeds of one recipe help?

    python benchmarks/soup.py --name tagger --members runs/tagger-13 runs/tagger-14 runs/tagger-15
    python benchmarks/soup.py --name ctam --members A B C --data '{"dev": "gklmip:{data}/.../train.json@select", "test": {...}}'

Members are model folders of one recipe trained with different seeds. Every
subset of two or more members is averaged (`xsent_core.soup.make_soup`); members
and soups are scored in this run, by the one evaluation module, on `--data`
(default: the dev and test sets of the members' preset). Reported per soup: its figures,
its members' mean, and soup minus that mean; the pair soups give one difference
each, so they are judged together with the shared tie rule
(`evaluation.paired_difference`: soup vs its members' mean, pair by pair).
Writes benchmarks/results/soup_<name>.{json,md}. With `--greedy`, instead of every subset: the greedy soup
(`xsent_core.soup.greedy_members`, chosen on dev only) and the uniform soup of all members.

Members that share their start (soups of fine-tunes from one initialisation are
the published recipe) are trained from one model folder with different seeds:

    python benchmarks/soup.py --warm-start assets/models/tagger --seed 21 --steps 400 --lr 3e-4 --out runs/warm-21

(the start's preset data; checkpoint chosen on its dev set every steps/4).
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def headline_metric(metrics: Mapping[str, Any]) -> str:
    """Span models report "f1" (span micro-F1), sentence models "macro_f1"."""
    return "f1" if "f1" in metrics else "macro_f1"


def figures(scores: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Points per scored set: its headline metric, and the CTAM paper's positive-vs-negative macro-F1 beside a
    sentence set's; plus the average of the non-English span test sets when English is among them."""
    out = {}
    for name, m in scores.items():
        out[name] = 100 * m[headline_metric(m)]
        if "pos_neg_macro_f1" in m:
            out[f"{name} pos-vs-neg"] = 100 * m["pos_neg_macro_f1"]
    targets = [n for n in scores if n not in ("en", "dev") and "f1" in scores[n]]
    if "en" in scores and targets:
        out["target_avg"] = statistics.fmean(out[n] for n in targets)
    return out


def data_sets(spec: Mapping[str, Any]) -> dict[str, str]:
    """{"dev": spec, "test": {name: spec}} -> {set name: spec}."""
    return {**({"dev": spec["dev"]} if "dev" in spec else {}), **dict(spec.get("test") or {})}


def score(folder: Path, sets: Mapping[str, list]) -> dict[str, Any]:
    from xsent_core.registry import load_model

    model = load_model(folder)
    return {name: model.evaluate(rows) for name, rows in sets.items()}


def member_label(path: Path, card: Any) -> str:
    seed = card.training.get("seed")
    if seed is None:  # a CLI-trained model names its seed in the rebuild command only
        command = str(card.training.get("command", ""))
        marker = '"seed": '
        if marker in command:
            seed = command.split(marker, 1)[1].split(",")[0].split("}")[0].strip()
    return f"seed {seed}" if seed is not None else path.name


def train_warm_member(start: Path, seed: int, steps: int, lr: float, out: Path) -> dict[str, Any]:
    """Train `start` further with `seed` (its preset's train data, checkpoint chosen on its dev set) into `out`."""
    from xsent_core.methods.base import TrainConfig
    from xsent_core.recipes import get_preset, load_data
    from xsent_core.registry import load_model, read_model_card, record_card_fields
    from xsent_core.training import fit

    card = read_model_card(start)
    preset = get_preset(card.method, card.training["preset"])
    model = load_model(start, for_training=True)
    dev_rows = load_data(preset.data["dev"])
    items = model.prepare(load_data(preset.data["train"]))
    select = preset.train.select_metric
    train = TrainConfig(epochs=1000, max_steps=steps, batch_size=preset.train.batch_size, lr=lr, seed=seed,
                        eval_every=max(1, steps // 4), select_metric=select, device="cpu")
    command = f"python benchmarks/soup.py --warm-start {start} --seed {seed} --steps {steps} --lr {lr} --out {out}"
    result = fit(model, items, train, evaluate=lambda: model.evaluate(dev_rows), out_dir=out, progress=False,
                 model_metadata={"preset": preset.name, "command": command, "warm_start": str(start), "seed": seed,
                                 "steps": steps})
    # known only now; the soup's card adds its members' time
    record_card_fields(out, {"training": {**read_model_card(out).training, "seconds": round(result.seconds, 1)}})
    return {"status": result.status, "steps": result.steps, "seconds": round(result.seconds, 1), "dev": dict(result.metrics)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warm-start", type=Path, help="train one member from this model folder (with --seed, --steps, --lr, --out)")
    p.add_argument("--seed", type=int)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--out", type=Path)
    p.add_argument("--name", help="results file suffix (soup_<name>.json)")
    p.add_argument("--members", nargs="+", help="model folders of one recipe, different seeds")
    p.add_argument("--data", help='JSON {"dev": spec, "test": {name: spec}} (default: the members\' preset data)')
    p.add_argument("--labels", nargs="+", help="a name per member (default: its seed, read from its card)")
    p.add_argument("--work", default="/tmp/xsent-soup", help="where the soups are written")
    p.add_argument("--greedy", action="store_true",
                   help="instead of every subset: the greedy soup (chosen on dev) and the uniform soup of all members")
    args = p.parse_args(argv)
    if args.warm_start is not None:
        if args.seed is None or args.out is None:
            p.error("--warm-start needs --seed and --out")
        print(json.dumps(train_warm_member(args.warm_start, args.seed, args.steps, args.lr, args.out)), flush=True)
        return 0
    if not args.name or not args.members:
        p.error("--name and --members are needed (or --warm-start)")

    from benchmarks.machine import machine_facts
    from xsent_core.evaluation import paired_difference
    from xsent_core.recipes import get_preset, load_data
    from xsent_core.registry import read_model_card
    from xsent_core.soup import greedy_members, make_soup, soup_command

    members = [Path(m) for m in args.members]
    cards = {m: read_model_card(m) for m in members}
    labels = dict(zip(members, args.labels)) if args.labels else {m: member_label(m, cards[m]) for m in members}
    spec = json.loads(args.data) if args.data else get_preset(cards[members[0]].method, cards[members[0]].training["preset"]).data
    sets = {name: load_data(s) for name, s in data_sets(spec).items()}
    member_figures = {}
    for m in members:
        member_figures[m] = figures(score(m, sets))
        print(labels[m], json.dumps(member_figures[m]), flush=True)
    work = Path(args.work)

    def soup_of(group: tuple[Path, ...]) -> Path:
        out = work / (f"{args.name}-soup-" + "-".join(g.name for g in group))
        make_soup(group, out, command=soup_command([str(g) for g in group], str(out)), evaluate=False)
        return out

    greedy = None
    if args.greedy:
        kept, steps = greedy_members({m: member_figures[m]["dev"] for m in members},
                                     lambda group: figures(score(soup_of(tuple(group)), {"dev": sets["dev"]}))["dev"])
        greedy = {"kept": [labels[m] for m in kept],
                  "steps": [{**s, "member": labels[s["member"]], "dev": round(s["dev"], 2)} for s in steps]}
        print("greedy", json.dumps(greedy), flush=True)
        groups = [tuple(members)]  # the uniform soup, beside the greedy one unless they are the same
        if len(kept) > 1 and set(kept) != set(members):
            groups.insert(0, tuple(kept))
    else:
        groups = [g for size in range(2, len(members) + 1) for g in itertools.combinations(members, size)]
    soups = []
    for group in groups:
        out = soup_of(group)
        mine = figures(score(out, sets))
        mean = {k: statistics.fmean(member_figures[g][k] for g in group) for k in mine}
        best = max(group, key=lambda g: member_figures[g]["dev"])  # the member a dev-set choice would ship
        soups.append({
            "members": [labels[g] for g in group],
            "folder": str(out),
            "figures": {k: round(v, 2) for k, v in mine.items()},
            "members_mean": {k: round(v, 2) for k, v in mean.items()},
            "minus_members_mean": {k: round(mine[k] - mean[k], 2) for k in mine},
            "best_dev_member": labels[best],
            "minus_best_dev_member": {k: round(mine[k] - member_figures[best][k], 2) for k in mine},
        })
        print(json.dumps(soups[-1]), flush=True)
    pairs = [s for s in soups if len(s["members"]) == 2]
    judged = {}
    if len(pairs) >= 2:
        for key in pairs[0]["figures"]:
            d = paired_difference([s["figures"][key] for s in pairs], [s["members_mean"][key] for s in pairs])
            judged[key] = {"differences": [round(x, 2) for x in d.differences], "mean": round(d.mean, 2),
                           "std": round(d.std, 2), "verdict": d.verdict}
    result = {
        "command": "python benchmarks/soup.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": machine_facts(),
        "data": dict(spec),
        "note": "points (x100): span micro-F1 for span models, 3-class macro-F1 (and positive-vs-negative macro-F1) for "
                "sentence models; members and soups scored in this run; target_avg = mean of the non-English test sets",
        "members": {labels[m]: {"folder": str(m), "figures": {k: round(v, 2) for k, v in member_figures[m].items()}}
                    for m in members},
        "soups": soups,
        **({"greedy": greedy} if greedy else {}),
        "pair_soups_vs_members_mean": judged,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"soup_{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"soup_{args.name}.md").write_text(markdown(result))
    return 0


def markdown(result: Mapping[str, Any]) -> str:
    keys = list(next(iter(result["members"].values()))["figures"])
    lines = [f"# Model soups ({result['command']})", "", "| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for label, m in result["members"].items():
        lines.append(f"| {label} | " + " | ".join(f"{m['figures'][k]:.2f}" for k in keys) + " |")
    for s in result["soups"]:
        lines.append(f"| soup of {', '.join(s['members'])} | " + " | ".join(f"{s['figures'][k]:.2f}" for k in keys) + " |")
        lines.append("| ... minus its members' mean | " + " | ".join(f"{s['minus_members_mean'][k]:+.2f}" for k in keys) + " |")
        lines.append(f"| ... minus its best-dev member ({s['best_dev_member']}) | "
                     + " | ".join(f"{s['minus_best_dev_member'][k]:+.2f}" for k in keys) + " |")
    if result.get("greedy"):
        lines += ["", "Greedy soup (members in order of their dev score, each kept if the soup's dev does not drop):", ""]
        lines += [f"- {s['member']}: dev {s['dev']:.2f}, {'kept' if s['kept'] else 'left out'}" for s in result["greedy"]["steps"]]
    if result["pair_soups_vs_members_mean"]:
        lines += ["", "Pair soups minus their members' mean, judged with the shared tie rule:", ""]
        for key, j in result["pair_soups_vs_members_mean"].items():
            lines.append(f"- {key}: {j['mean']:+.2f} ± {j['std']:.2f} (per pair {', '.join(f'{d:+.2f}' for d in j['differences'])}): {j['verdict']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
