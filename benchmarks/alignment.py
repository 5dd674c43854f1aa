"""Alignment benchmark: UMAP of 10,000 embedded sentences, the paper's concept table,
and precision@1 of the VecMap-style mapping on the curated lexicons.

1. 10,000 sentences (GKLMIP Burmese train+dev, then SemEval-2016 restaurant
   sentences in en/fr/es/nl/ru until 10,000) embedded with the builtin encoder
   (`embed_sentences`, mean-pooled top layer, "query: " prefix); embedding time
   reported on its own.
2. numba warm-up: UMAP on 5,000 random points for 10 epochs, timed apart. It must
   be over 4,096 points: umap-learn switches to pynndescent's approximate
   neighbour search there, whose kernels would otherwise compile inside the timed run.
3. UMAP (umap-learn, cosine, fixed seed, 200 epochs: umap-learn's own default
   above 10,000 points) of the 10,000 vectors, timed; target < 60 s on 2 cores.
4. The five concepts of the paper's Table 3: cosine distance before and after the
   shipped VXLM model's mapping (assets/models/vxlm), printed beside the paper's.
5. precision@1 of the mapping on held-out parts (30 %) of the FR-EN, ES-EN and
   MY-EN lexicons in assets/dictionaries, static vectors from SemEval/GKLMIP train
   at layer 8 (the models' static layer), for: no mapping, Procrustes on the seed only, seed + CSLS
   self-learning (the default), and the unsupervised identity initialisation.
6. The Alignment tab's own test, at the models' static layer (8) and the tab's
   default for the bare encoder (12): precision@1 and mean cosine distance on the
   held-out CLDR pairs (`assets/dictionaries/my-en-cldr.tsv` minus the seed
   lexicon's words: ≥ 100 pairs), before and after (a) the map fitted for the bare
   encoder on the seed lexicon (`alignment.fit_lexicon_map`, what the tab draws)
   (a') the same without the five concepts' pairs, and (b) the shipped VXLM model's
   own map; the five concepts under maps (a) and (a'). Distances are measured
   where the English vectors lie: only the Burmese side moves (`into_target_space`).
   Key `heldout_check`.

Writes benchmarks/results/alignment.json (+ alignment.md, and the 10k scatter
as alignment_umap.html when --html is given).

    python benchmarks/alignment.py
    python benchmarks/alignment.py --n 2000 --skip-p-at-1   # reduced budget (recorded)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEMEVAL = "semeval:{data}/semeval16_restaurants/gold-%s-%s.txt"
GKLMIP = "gklmip:{data}/gklmip_myanmar_sentiment/%s.json"
LEXICON_CORPORA = {"fr": SEMEVAL % ("fr", "train"), "es": SEMEVAL % ("es", "train"), "my": GKLMIP % "train"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def collect_sentences(n: int) -> tuple[list[str], list[str]]:
    from xsent_core.recipes import load_data

    texts, langs = [], []
    sources = [(GKLMIP % s, "my") for s in ("train", "dev")]
    sources += [(SEMEVAL % (lang, split), lang) for split in ("train", "dev", "test") for lang in ("en", "fr", "es", "nl", "ru")]
    for spec, lang in sources:
        for ex in load_data(spec):
            if len(texts) >= n:
                return texts, langs
            if ex.text.strip():
                texts.append(ex.text)
                langs.append(lang)
    return texts, langs


def p_at_1(encoder: Any, layer: int, seed_fraction_out: float = 0.3) -> dict[str, Any]:
    from xsent_core.recipes import load_data
    from xsent_core.static_vectors import build_static_vectors, corpus_words
    from xsent_core.vecmap import fit_mapping, orient_pairs, read_dictionary, split_dictionary

    def static(spec: str) -> Any:
        rows = load_data(spec)
        words = [list(ex.tokens) if ex.tokens else None for ex in rows]
        missing = [i for i, w in enumerate(words) if w is None]
        if missing:
            seg = corpus_words([rows[i].text for i in missing], rows[0].lang)
            for i, w in zip(missing, seg):
                words[i] = w
        return build_static_vectors(encoder, words, layer, min_count=2, max_words=4000)

    t = time.time()
    english = static(SEMEVAL % ("en", "train"))
    out: dict[str, Any] = {"layer": layer, "english_words": len(english), "held_out": seed_fraction_out}
    for lang, spec in LEXICON_CORPORA.items():
        src = static(spec)
        pairs, swapped = orient_pairs(read_dictionary(ROOT / "assets" / "dictionaries" / f"{lang}-en.tsv"), src.words, english.words)
        seed, test = split_dictionary(pairs, seed_fraction_out, seed=0)
        row: dict[str, Any] = {"source_words": len(src), "seed_pairs": len(seed), "test_pairs": len(test)}
        for name, kwargs in (
            ("procrustes_seed_only", {"dictionary": seed, "iterations": 0}),
            ("seed_plus_self_learning", {"dictionary": seed}),
            ("unsupervised_identity_init", {"dictionary": None, "init": "identity"}),
        ):
            r = fit_mapping(src.words, src.vectors, english.words, english.vectors, test_pairs=test, **kwargs)
            row[name] = round(r.evaluation["precision_at_1"], 4)
            row["no_mapping"] = round(r.evaluation["precision_at_1_unmapped"], 4)
            row["n_evaluated"] = int(r.evaluation["n"])
        out[lang] = row
        log(f"precision@1 {lang}: {row}")
    out["seconds"] = round(time.time() - t, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=str(ROOT / "assets" / "models" / "vxlm"))
    ap.add_argument("--skip-p-at-1", action="store_true")
    ap.add_argument("--skip-umap", action="store_true", help="keep an earlier run's embedding/UMAP figures (parts 1-3)")
    ap.add_argument("--wait-for-model", type=float, default=0, help="seconds to wait for --model to appear")
    ap.add_argument("--vectors", default=None, help="cache file (.npy) for the sentence vectors: written, or reused if present")
    ap.add_argument("--html", action="store_true", help="also write the 10k scatter as HTML")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "alignment.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from xsent_core.encoders.registry import load_text_encoder

    started = time.time()
    report: dict[str, Any] = {
        "command": ("python benchmarks/alignment.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])).strip(),
        "machine": {
            "platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": args.threads, "load_average_start": list(os.getloadavg()),
        },
        "budget": {"n_sentences": args.n, "umap_epochs": 200, "umap_neighbors": 15, "seed": args.seed},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier_run = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    if args.skip_p_at_1 and earlier_run.get("precision_at_1"):  # it does not depend on the UMAP part
        report["precision_at_1"] = {**earlier_run["precision_at_1"], "note": "from an earlier run of this script (same code and data)"}
    if args.skip_umap:
        for key in UMAP_KEYS:
            if key in earlier_run:
                report[key] = earlier_run[key]
        report["umap_note"] = f"parts 1-3 from an earlier run of this script: {earlier_run.get('command')}"

    def save() -> None:
        report["total_seconds"] = round(time.time() - started, 1)
        report["machine"]["load_average_end"] = list(os.getloadavg())
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")

    encoder = load_text_encoder("builtin")
    if args.skip_umap:
        log("held-out lexicon check")
        report["heldout_check"] = heldout_check(encoder, Path(args.model))
        save()
    else:
        umap_part(args, report, encoder, out, save)
    if not args.skip_p_at_1:
        log("precision@1 on the lexicons")
        report["precision_at_1"] = p_at_1(encoder, 8)
        save()
    if not args.skip_umap:
        report["heldout_check"] = heldout_check(encoder, Path(args.model))
        save()
    concepts_part(args, report, encoder)
    save()
    log(f"done in {(time.time() - started) / 60:.1f} min -> {out}")


UMAP_KEYS = ("sentences", "embed_seconds", "embed_note", "numba_warmup_seconds", "umap_seconds", "umap_under_60s",
             "umap_other_language_neighbour_share")


def heldout_check(encoder: Any, model_path: Path) -> dict[str, Any]:
    """Part 6: what the Alignment tab checks before it draws an "after"."""
    from xsent_core.alignment import PAPER_CONCEPTS, SEED_LEXICON, analyse_pairs, check_mapping, check_pairs, fit_lexicon_map

    held_out, seed = check_pairs(), check_pairs(SEED_LEXICON)
    out: dict[str, Any] = {"held_out_pairs": len(held_out), "seed_pairs": len(seed),
                           "held_out_lexicon": "my-en-cldr.tsv minus the Burmese words of my-en.tsv"}
    # the tab's map has the five concepts in its seed; a map fitted without them makes them a real test
    concept_words = {c.burmese for c in PAPER_CONCEPTS} | {c.english for c in PAPER_CONCEPTS}
    seeds = {"lexicon_map": seed, "lexicon_map_without_concepts": [(b, e) for b, e in seed if b not in concept_words and e not in concept_words]}
    for layer in (8, 12):
        row: dict[str, Any] = {}
        for name, pairs in seeds.items():
            t = time.time()
            fitted = fit_lexicon_map(encoder, layer, pairs)
            check = check_mapping(encoder, fitted.mapping, layer, held_out)
            table = analyse_pairs(PAPER_CONCEPTS, encoder, fitted.mapping, layer).table
            closer = int((table["cosine_distance_after"] < table["cosine_distance_before"]).sum())
            row[name] = {
                **check.as_dict(), "identity_prior": fitted.identity_prior, "seed_pairs": len(pairs),
                "concepts": json.loads(table.to_json(orient="records", force_ascii=False)),
                "concepts_closer_after": f"{closer} of {len(table)}",
                # the shift onto English's centre alone moves every Burmese word; what the rotation adds on top
                "concepts_closer_than_shift_only": f"{int((table['cosine_distance_after'] < table['cosine_distance_shifted']).sum())} of {len(table)}",
                "concepts_in_seed_lexicon": sum((c.burmese, c.english) in set(pairs) for c in PAPER_CONCEPTS),
                "seconds": round(time.time() - t, 1),
            }
            log(f"layer {layer}, {name}: {check.sentence()} concepts closer: {closer} of {len(table)}")
        out[f"layer_{layer}"] = row
    if (model_path / "config.json").is_file():
        from xsent_core.registry import load_model

        model = load_model(model_path)
        layer = model.config.static_layer
        check = check_mapping(model.encoder, model.mapping(), layer, held_out)
        out["shipped_model_map"] = {"model": model_path.name, "layer": layer, **check.as_dict()}
        log(f"shipped {model_path.name} map: {check.sentence()}")
    return out


def umap_part(args: Any, report: dict[str, Any], encoder: Any, out: Path, save: Any) -> None:
    """Parts 1-3: embed the sentences, warm numba up, time UMAP."""
    import numpy as np

    from xsent_core.alignment import project_2d, scatter_figure

    texts, langs = collect_sentences(args.n)
    from collections import Counter

    report["sentences"] = {"n": len(texts), "languages": dict(Counter(langs))}
    cache = Path(args.vectors) if args.vectors else None
    if cache is not None and cache.is_file():
        vectors = np.load(cache)
        if len(vectors) != len(texts):
            raise SystemExit(f"{cache} holds {len(vectors)} vectors, expected {len(texts)}")
        report["embed_seconds"] = None
        report["embed_note"] = f"vectors reused from {cache} (embedded by an earlier run of this script)"
        log(f"reused {len(vectors)} vectors from {cache}")
    else:
        log(f"embedding {len(texts)} sentences")
        t = time.time()
        vectors = encoder.embed_sentences(texts, batch_size=32)
        report["embed_seconds"] = round(time.time() - t, 1)
        log(f"embedded in {report['embed_seconds']} s")
        if cache is not None:
            np.save(cache, vectors)

    t = time.time()
    project_2d(np.random.default_rng(0).normal(size=(5000, vectors.shape[1])).astype(np.float32), "umap", seed=args.seed, n_epochs=10)
    report["numba_warmup_seconds"] = round(time.time() - t, 1)
    log(f"numba warm-up {report['numba_warmup_seconds']} s")
    t = time.time()
    coords, used = project_2d(vectors, "umap", seed=args.seed, n_epochs=200)
    report["umap_seconds"] = round(time.time() - t, 1)
    report["umap_under_60s"] = report["umap_seconds"] < 60
    log(f"UMAP of {len(vectors)} points: {report['umap_seconds']} s")
    # how mixed the languages are in the map: share of each point's 10 nearest 2-D neighbours in another language
    report["umap_other_language_neighbour_share"] = _mixing(coords, langs)
    if args.html:
        fig = scatter_figure(coords, langs, [t_[:120] for t_ in texts], f"{len(texts)} sentences, UMAP")
        fig.write_html(str(out.with_name("alignment_umap.html")), include_plotlyjs="cdn")
    save()


def concepts_part(args: Any, report: dict[str, Any], encoder: Any) -> None:
    """Part 4: the paper's five concepts under the shipped model's own map."""
    from xsent_core.alignment import PAPER_CONCEPTS, analyse_model, analyse_pairs, format_table

    model_path = Path(args.model)
    deadline = time.time() + args.wait_for_model
    while not (model_path / "config.json").is_file() and time.time() < deadline:
        time.sleep(30)  # the CTAM benchmark ships the VXLM model when it finishes
    if (model_path / "config.json").is_file():
        from xsent_core.registry import load_model

        model = load_model(model_path)
        result = analyse_model(model)
        report["concepts"] = {"model": str(model_path.relative_to(ROOT)) if model_path.is_relative_to(ROOT) else str(model_path),
                              "layer": model.config.static_layer}
    else:
        result = analyse_pairs(PAPER_CONCEPTS, encoder, None, 8)
        report["concepts"] = {"model": None, "layer": 8, "note": "no shipped VXLM model: distances before mapping only"}
    print(format_table(result.table))
    report["concepts"]["table"] = json.loads(result.table.to_json(orient="records", force_ascii=False))
    report["concepts"]["warnings"] = list(result.warnings)
    top = analyse_pairs(PAPER_CONCEPTS, encoder, None, None)
    report["concepts"]["top_layer_before"] = [round(float(v), 4) for v in top.table["cosine_distance_before"]]
    print(f"top-layer (12) distances without mapping: {report['concepts']['top_layer_before']}")


def _mixing(coords: Any, langs: list[str], k: int = 10) -> dict[str, float]:
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(coords)
    idx = nn.kneighbors(coords, return_distance=False)[:, 1:]
    lang = np.array(langs)
    other = (lang[idx] != lang[:, None]).mean(1)
    return {l: round(float(other[lang == l].mean()), 4) for l in dict.fromkeys(langs)}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"UMAP of {report.get('sentences', {}).get('n')} sentences: {report.get('umap_seconds')} s "
        f"(numba warm-up {report.get('numba_warmup_seconds')} s, embedding {report.get('embed_seconds')} s), "
        f"{report['machine']['torch_threads']} torch thread(s), load average at start {report['machine']['load_average_start'][0]:.1f}.",
        "",
    ]
    concepts = report.get("concepts")
    if concepts:
        lines += [
            f"Shipped model's map ({concepts.get('model')}); distances measured where English vectors lie "
            "(only Burmese moves: centred, rotated, put on English's centre); *shift only*: the same without the rotation.",
            "",
            f"| English | Burmese | paper | before mapping (layer {concepts['layer']}) | shift only | after mapping | top layer, no mapping |",
            "|---|---|---|---|---|---|---|",
        ]
        for row, top in zip(concepts["table"], concepts.get("top_layer_before", [None] * 5)):
            after, shifted = row.get("cosine_distance_after"), row.get("cosine_distance_shifted")
            lines.append(
                f"| {row['english']} | {row['burmese']} | {row['paper_distance']} | {row['cosine_distance_before']:.3f} "
                f"| {'' if shifted is None else f'{shifted:.3f}'} "
                f"| {'' if after is None else f'{after:.3f}'} | {'' if top is None else f'{top:.3f}'} |"
            )
    held = report.get("heldout_check")
    if held:
        lines += ["", f"Held-out check ({held['held_out_pairs']} pairs, {held['held_out_lexicon']}; map fitted on "
                  f"{held['seed_pairs']} seed pairs):", "",
                  "| map | layer | precision@1 before | after | mean distance before | after | the five concepts closer after |",
                  "|---|---|---|---|---|---|---|"]
        names = {"lexicon_map": "seed-lexicon map (bare encoder; the tab's)",
                 "lexicon_map_without_concepts": "seed lexicon without the five concepts"}
        for layer in (8, 12):
            for name, label in names.items():
                m = held.get(f"layer_{layer}", {}).get(name)
                if m:
                    lines.append(f"| {label} ({m['seed_pairs']} pairs) | {layer} | {m['precision_at_1_before']:.3f} | "
                                 f"{m['precision_at_1_after']:.3f} | {m['mean_distance_before']:.3f} | {m['mean_distance_after']:.3f} "
                                 f"| {m['concepts_closer_after']} than unmapped, {m['concepts_closer_than_shift_only']} than shift only "
                                 f"({m['concepts_in_seed_lexicon']} in the seed) |")
        m = held.get("shipped_model_map")
        if m:
            lines.append(f"| shipped `{m['model']}` map | {m['layer']} | {m['precision_at_1_before']:.3f} | "
                         f"{m['precision_at_1_after']:.3f} | {m['mean_distance_before']:.3f} | {m['mean_distance_after']:.3f} | |")
    p1 = report.get("precision_at_1")
    if p1:
        lines += ["", "| lexicon | n | no mapping | Procrustes (seed) | seed + self-learning | unsupervised |", "|---|---|---|---|---|---|"]
        for lang in ("fr", "es", "my"):
            r = p1.get(lang)
            if r:
                lines.append(
                    f"| {lang}-en | {r['n_evaluated']} | {r['no_mapping']:.3f} | {r['procrustes_seed_only']:.3f} "
                    f"| {r['seed_plus_self_learning']:.3f} | {r['unsupervised_identity_init']:.3f} |"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
