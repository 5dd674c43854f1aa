"""Does a Burmese -> English map bring translations closer? precision@1 on held-out word pairs.

Words are embedded alone (the way the Alignment tab embeds what a linguist types)
with the builtin encoder at a layer. The lexicon is the curated my-en.tsv plus the
CLDR pairs (my-en-cldr.tsv); each of 3 splits holds out 30 % of its Burmese words.
Candidates for retrieval: every English word of the lexicon plus the 3,000 most
frequent words of SemEval-2016 English train (distractors); Burmese side likewise
with GKLMIP train words. precision@1 uses CSLS (k = 10), as VecMap's evaluation does.

Rows: no mapping (unit length only); VecMap normalisation alone (unit, centre,
unit); + Procrustes on the seed part; + Procrustes with the identity prior chosen
by 5-fold cross-validation on the seed part; the same + self-learning; whitened
Procrustes (PCA decorrelation, de-whitened). Paired differences per split.

Also: the shipped vxlm/ctam maps on the CLDR pairs (`alignment.check_mapping`,
what the tab shows), the paper's five concepts before/after the best map, and
the Zawgyi detector's false alarms on the lexicons' Burmese words.

    python benchmarks/alignment_mapping.py            # ~3 min on 2 cores
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPLITS = (0, 1, 2)
HELD_OUT = 0.3
DISTRACTORS = 3000


def lexicon() -> list[tuple[str, str]]:
    from xsent_core.vecmap import read_dictionary

    folder = ROOT / "assets" / "dictionaries"
    return list(dict.fromkeys(read_dictionary(folder / "my-en.tsv") + read_dictionary(folder / "my-en-cldr.tsv")))


def vocabularies(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    from xsent_core.recipes import load_data
    from xsent_core.static_vectors import corpus_words
    from xsent_core.text import has_myanmar

    english = Counter(w.lower() for ex in load_data("semeval:{data}/semeval16_restaurants/gold-en-train.txt")
                      for w in (ex.tokens or ex.text.split()) if w.isalpha())
    burmese = Counter(w for ws in corpus_words([ex.text for ex in load_data("gklmip:{data}/gklmip_myanmar_sentiment/train.json")], "my")
                      for w in ws if has_myanmar(w))
    en = sorted({w for w, _ in english.most_common(DISTRACTORS)} | {e for _, e in pairs})
    my = sorted({w for w, _ in burmese.most_common(DISTRACTORS)} | {b for b, _ in pairs})
    return my, en


def variants() -> dict[str, dict[str, Any]]:
    return {
        "procrustes": {"iterations": 0, "identity_prior": 0.0},
        "procrustes_identity_prior": {"iterations": 0},
        "identity_prior_self_learning": {"iterations": 10},
        "whitened_procrustes": {"iterations": 0, "identity_prior": 0.0, "whiten": True},
    }


def run_layer(encoder: Any, layer: int, pairs: list[tuple[str, str]], my: list[str], en: list[str]) -> dict[str, Any]:
    from xsent_core.evaluation import paired_difference, seed_summary
    from xsent_core.static_vectors import embed_words_alone
    from xsent_core.vecmap import fit_mapping, precision_at_1, split_dictionary, unit_rows

    t = time.time()
    x, y = embed_words_alone(encoder, my, layer), embed_words_alone(encoder, en, layer)
    scores: dict[str, list[float]] = {}
    priors, n_test = [], []
    for split in SPLITS:
        seed, test = split_dictionary(pairs, HELD_OUT, seed=split)
        scores.setdefault("no_mapping", []).append(precision_at_1(unit_rows(x), my, unit_rows(y), en, test)["precision_at_1"])
        for name, kwargs in variants().items():
            r = fit_mapping(my, x, en, y, seed, test_pairs=test, **kwargs)
            scores.setdefault(name, []).append(r.evaluation["precision_at_1"])
            if name == "procrustes":  # every fit reports the same normalisation-only figure
                scores.setdefault("normalisation_only", []).append(r.evaluation["precision_at_1_unmapped"])
                n_test.append(int(r.evaluation["n"]))
            if name == "procrustes_identity_prior":
                priors.append(r.identity_prior)
    out: dict[str, Any] = {"layer": layer, "held_out_burmese_words": n_test, "identity_prior_chosen": priors,
                           "seconds": round(time.time() - t, 1)}
    out["precision_at_1"] = {k: {"per_split": [round(v, 4) for v in vals], **seed_summary(vals).as_dict()} for k, vals in scores.items()}
    out["paired_vs_no_mapping"] = {k: paired_difference(vals, scores["no_mapping"]).as_dict() for k, vals in scores.items() if k != "no_mapping"}
    out["paired_vs_normalisation_only"] = {k: paired_difference(vals, scores["normalisation_only"]).as_dict()
                                           for k, vals in scores.items() if k not in ("no_mapping", "normalisation_only")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="8,12")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "alignment_mapping.json"))
    args = ap.parse_args()

    from benchmarks.machine import machine_facts
    from xsent_core.alignment import PAPER_CONCEPTS, analyse_pairs, check_mapping, check_pairs
    from xsent_core.encoders.registry import load_text_encoder
    from xsent_core.registry import load_model
    from xsent_core.static_vectors import embed_words_alone
    from xsent_core.text import looks_like_zawgyi, normalize
    from xsent_core.vecmap import fit_mapping

    started = time.time()
    pairs = lexicon()
    my, en = vocabularies(pairs)
    encoder = load_text_encoder("builtin")
    report: dict[str, Any] = {
        "command": "python benchmarks/alignment_mapping.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": machine_facts(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "lexicon_pairs": len(pairs), "burmese_candidates": len(my), "english_candidates": len(en),
        "layers": [],
    }
    for layer in [int(v) for v in args.layers.split(",")]:
        row = run_layer(encoder, layer, pairs, my, en)
        report["layers"].append(row)
        print(json.dumps({k: row[k] for k in ("layer", "identity_prior_chosen", "seconds")}),
              {k: v["mean"] for k, v in row["precision_at_1"].items()}, flush=True)

    # the five concepts under a map fitted on the whole lexicon at the models' static layer
    layer = 8
    x, y = embed_words_alone(encoder, my, layer), embed_words_alone(encoder, en, layer)
    fitted = fit_mapping(my, x, en, y, pairs, iterations=0)
    concepts = analyse_pairs(PAPER_CONCEPTS, encoder, fitted.mapping, layer)
    report["paper_concepts_layer_8"] = {
        "identity_prior": fitted.identity_prior,
        "rows": concepts.table[["english", "burmese", "cosine_distance_before", "cosine_distance_shifted",
                                "cosine_distance_after", "paper_distance"]].to_dict(orient="records"),
    }
    report["shipped_maps_on_cldr_pairs"] = {}
    for name in ("vxlm", "ctam"):
        folder = ROOT / "assets" / "models" / name
        if folder.exists():
            model = load_model(str(folder))
            report["shipped_maps_on_cldr_pairs"][name] = check_mapping(model.encoder, model.mapping(), model.config.static_layer, check_pairs()).as_dict()
    words = [b for b, _ in pairs]
    alarms = [w for w in words if looks_like_zawgyi(w) or normalize(w).converted_from_zawgyi]
    report["zawgyi_false_alarms"] = {"words": len(words), "flagged": len(alarms), "rate": round(len(alarms) / len(words), 4), "examples": alarms[:10]}
    report["seconds"] = round(time.time() - started, 1)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
