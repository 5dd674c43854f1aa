"""Pure helpers of the adaptation and examples benchmarks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
ROOT = Path(__file__).resolve().parent.parent

from xsent_core.types import AspectSpan  # noqa: E402


def test_aspect_verdict_needs_every_aspect_with_its_polarity_and_no_contradiction():
    from examples import aspect_verdict

    text = "The fish was fresh but the service was slow."
    expected = {"fish": "positive", "service": "negative"}
    good = [AspectSpan(4, 8, "fish", "positive"), AspectSpan(27, 34, "service", "negative")]
    assert aspect_verdict(text, expected, good) == (True, {"fish": ["positive"], "service": ["negative"]})
    same = [AspectSpan(4, 8, "fish", "negative"), AspectSpan(27, 34, "service", "negative")]
    assert aspect_verdict(text, expected, same)[0] is False
    missing = good[:1]
    assert aspect_verdict(text, expected, missing) == (False, {"fish": ["positive"], "service": []})
    # a wider span over the aspect counts; a second, contradicting span over it does not
    wide = [AspectSpan(0, 8, "The fish", "positive"), AspectSpan(23, 34, "the service", "negative")]
    assert aspect_verdict(text, expected, wide)[0] is True
    torn = good + [AspectSpan(4, 12, "fish was", "negative")]
    assert aspect_verdict(text, expected, torn)[0] is False


def test_aspect_verdict_refuses_a_span_over_a_word_the_guidelines_do_not_tag():
    from examples import aspect_verdict

    text = "The waiter was rude and the prices were too high."
    waiter = AspectSpan(4, 10, "waiter", "negative")
    assert aspect_verdict(text, {"waiter": "negative"}, [waiter], ["prices"]) == (True, {"waiter": ["negative"], "prices": []})
    tagged = [waiter, AspectSpan(28, 34, "prices", "negative")]
    assert aspect_verdict(text, {"waiter": "negative"}, tagged, ["prices"]) == (False, {"waiter": ["negative"], "prices": ["negative"]})
    # a row may expect no target at all
    assert aspect_verdict("De prijzen zijn veel te hoog.", {}, [], ["prijzen"])[0] is True
    assert aspect_verdict("De prijzen zijn veel te hoog.", {}, [AspectSpan(3, 10, "prijzen", "negative")], ["prijzen"])[0] is False


def test_every_example_row_is_well_formed():
    from examples import read_rows

    rows = read_rows()
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert ("aspects" in r) != ("label" in r)
        for aspect in (*r.get("aspects", {}), *r.get("not_aspects", ())):
            assert aspect in r["text"], r["id"]
        assert not set(r.get("aspects", {})) & set(r.get("not_aspects", ())), r["id"]
    burmese = [r for r in rows if r["lang"] == "my"]
    assert {r["label"] for r in burmese} == {"positive", "negative"} and all(r.get("gloss") for r in burmese)


def test_adaptation_summary_pairs_rows_seed_by_seed():
    import adaptation

    def run(row, seed, avg_shift):
        test = {lang: {"f1": 0.5 + avg_shift, "span_only_f1": 0.6, "polarity_accuracy": 0.8} for lang in ("en", "fr", "es", "nl", "ru")}
        return {"task": "tagger", "row": row, "seed": seed, "train_seconds": 60.0, "steps": 10, "shipped_mb": 1.0, "test": test}

    runs = [run("top6", 13, 0.0), run("top6", 14, 0.01), run("lora-r8", 13, 0.03), run("lora-r8", 14, 0.05)]
    rows = adaptation.summarise("tagger", runs)
    assert rows["top6"]["metrics"]["target_avg_f1"]["mean"] == pytest.approx(50.5)
    paired = rows["lora-r8"]["paired_vs_top6"]["target_avg_f1"]
    assert paired["differences"] == pytest.approx([3.0, 4.0])
    assert paired["verdict"] == "gain"


def test_m2sa_rows_pair_multilingual_with_monolingual_and_english_only_seed_by_seed():
    import m2sa

    def run(scores):
        return {"test": {code: {"macro_f1": f, "accuracy": f, "majority_macro_f1": 0.3, "n": 10.0} for code, f in scores.items()}}

    def seed(shift):
        runs = {None: run({c: 0.70 + shift for c in m2sa.LANGS}), "en": run({c: 0.60 for c in m2sa.LANGS})}
        runs["en"]["test"]["en"]["macro_f1"] = 0.65
        runs.update({c: run({c: 0.66}) for c in m2sa.LANGS[1:]})
        return m2sa.row_scores(runs)

    per_seed = [seed(0.0), seed(0.01), seed(0.02)]
    assert per_seed[0]["monolingual"] == pytest.approx({"en": 65.0, "es": 66.0, "fr": 66.0, "nl": 66.0, "ru": 66.0})
    assert per_seed[0]["english_only"]["fr"] == pytest.approx(60.0)
    s = m2sa.summarise(per_seed)
    assert s["multilingual"]["avg_non_en"]["mean"] == pytest.approx(71.0)
    mono = s["multilingual_minus_monolingual"]["avg_non_en"]
    assert mono["differences"] == pytest.approx([4.0, 5.0, 6.0]) and mono["verdict"] == "gain"
    zero_shot = s["multilingual_minus_english_only"]
    assert "en" not in zero_shot and zero_shot["fr"]["differences"] == pytest.approx([10.0, 11.0, 12.0])
    assert m2sa.training_data("fr") == {
        "train": [m2sa.SEMEVAL % ("fr", "train")], "dev": [m2sa.SEMEVAL % ("fr", "dev")], "test": {"fr": m2sa.TEST % "fr"},
    }
    assert set(m2sa.training_data("en")["test"]) == set(m2sa.LANGS) == set(m2sa.training_data(None)["test"])
    speed = {"rows": 8, "seconds": 1.0, "rows_per_s": 8.0}
    result = {
        "command": "python benchmarks/m2sa.py", "seeds": [13, 14, 15], "summary": s,
        "machine": {"cpu_count": 2, "torch": "2", "torch_threads": 1, "load_average_start": [0.5]},
        "majority_macro_f1": {k: 30.0 for k in (*m2sa.LANGS, "avg_non_en", "avg_all")},
        "test_rows": {c: 10 for c in m2sa.LANGS}, "train_minutes": {"multilingual": [13.0, 8.0, 8.25], "monolingual": [7.0, 7.0, 7.0]},
        "throughput": {"batch_size": 16, "text_only": speed, "images_cold_cache": speed, "images_warm_cache": speed},
    }
    table = m2sa.markdown(result)
    assert "| average ES/FR/NL/RU |  | 30.0 | 71.0 ± 1.0 | 66.0 ± 0.0 | 60.0 ± 0.0 | +5.0 (+4.0, +5.0, +6.0): gain |" in table
    assert "multilingual 13.0, 8.0, 8.2; the five monolingual models together 7.0, 7.0, 7.0." in table
    assert "| EN | 10 | 30.0 | 71.0 ± 1.0 | 65.0 ± 0.0 | 65.0 ± 0.0 | +6.0 (+5.0, +6.0, +7.0): gain | (same model) |" in table


def test_ctam_card_names_adaptation_dual_path_and_the_matching_preset_only():
    from ctam import adaptation_text, dual_path_text, preset_line

    lora = {"adapt": "lora", "lora_rank": 16, "lora_alpha": 32.0, "lora_from_layer": 8, "train_from_layer": 10}
    budget = {"seed": 14, "epochs": 3, "lr": 5e-4, "train_from_layer": 10, "adaptation": lora,
              "imbalance": {"logit_adjust": 1.0, "class_weighting": "none"}}
    assert adaptation_text(budget).startswith("LoRA rank 16 (alpha 32)") and "layers >= 8" in adaptation_text(budget)
    assert adaptation_text({"train_from_layer": 10}) == "encoder layers >= 10 trained"  # runs before the key existed
    assert "top 4 encoder layers" in dual_path_text({"align_layers": 4, "detach_teacher": False})
    assert "bidirectional reading" in dual_path_text({"align_layers": 4, "detach_teacher": False})
    assert "only the top layer" in dual_path_text({})
    line = preset_line("ctam", budget)
    assert len(line) == 1 and "--preset ctam-builtin" in line[0] and '{"seed": 14}' in line[0]
    # a run the preset does not hold gets no CLI line
    assert preset_line("ctam", {**budget, "imbalance": {"logit_adjust": 0.0, "class_weighting": "none"}}) == []
    assert preset_line("ctam", {**budget, "ctam_dual_path": {"align_layers": 4, "detach_teacher": False}}) == []
    zero = {**budget, "setting": "zero-resource", "lr": 5e-5, "adaptation": {"adapt": "top-k", "train_from_layer": 10}}
    assert "--preset ctam-zero-resource" in preset_line("ctam", zero)[0]
    assert preset_line("ctam", {**zero, "train_from_layer": 6}) == []


def test_ctam_card_is_written_by_the_library_card_writer():
    """The shipped CTAM/VXLM cards go through xsent_core.model_card like every other method's."""
    import json

    from ctam import model_card

    report = json.loads((ROOT / "benchmarks" / "results" / "ctam_lora_seed14.json").read_text(encoding="utf-8"))
    card = model_card("ctam", report, report["results"]["ctam"])
    assert card.startswith("# ctam model: preset `ctam-builtin`") and "## Data\n" in card
    assert "## Deviations from the paper" in card and "majority baseline" in card and card.rstrip().endswith("CPU cores.")
    report["budget"] = {**report["budget"], "lr": 1e-5}  # a run no preset holds: named by its results file, no preset data
    card = model_card("ctam", report, report["results"]["ctam"])
    assert card.startswith("# ctam model: run `benchmarks/ctam.py (ctam_lora_seed14.json)`") and "## Data\n" not in card


def test_msmo_checks_pair_rows_seed_by_seed_and_combine_merges_processes(tmp_path):
    import json

    import msmo

    def run(row, seed, avg):
        return {"row": row, "seed": seed, "dev_f1": 0.5, "test": {"fr": avg, "average": avg}}

    runs = [run("tagger", 13, 0.40), run("tagger", 14, 0.42), run("msmo", 13, 0.45), run("msmo", 14, 0.41)]
    checks = msmo.paired_checks(runs, msmo.summarise(runs, ["fr"]))
    diff = checks["msmo_minus_tagger"]
    assert diff["seeds"] == [13, 14] and diff["per_seed"] == pytest.approx([5.0, -1.0])
    assert diff["mean"] == pytest.approx(2.0) and diff["all_positive"] is False
    assert "msmo_distill_minus_msmo" not in checks  # no distill rows: nothing to pair
    # rows trained in two processes come back as one result with the union of seeds
    parts = []
    for name, rows in (("a", runs[2:]), ("b", runs[:2])):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"command": name, "setting": {"langs": ["fr"], "seeds": [13]}, "runs": rows,
                                    "status": "finished", "elapsed_minutes": 3}), encoding="utf-8")
        parts.append(str(path))
    assert msmo.combine(str(tmp_path / "all.json"), parts) == 0
    merged = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert merged["setting"]["seeds"] == [13, 14] and len(merged["runs"]) == 4
    assert merged["checks"]["msmo_minus_tagger"]["per_seed"] == pytest.approx([5.0, -1.0])


def test_lfdrt_headline_by_hand():
    """The issue's results key: rethinking gain over the five targets, per seed, and the ablation difference."""
    import lfdrt

    def scores(f1: float, my: float | None = None) -> dict:
        cell = {"accuracy": 0.5, "macro_f1": f1, "weighted_f1": 0.5, "heads_agree": 0.9}
        return {l: dict(cell, macro_f1=my if (l == "my" and my is not None) else f1) for l in ("en", *lfdrt.TARGETS)}

    def run(variant: str, seed: int, before: float, paper: float, adapt: float, my_adapt: float) -> dict:
        rt = {l: {"agreement_before": 0.9, "agreement_after": 0.95} for l in lfdrt.TARGETS}
        return {"variant": variant, "seed": seed, "before": {"dev": scores(before), "test": scores(before)},
                "after": {"paper": {"dev": scores(paper), "test": scores(paper), "rethink": rt},
                          "adapt": {"dev": scores(adapt + 0.01), "test": scores(adapt, my_adapt), "rethink": rt}}}

    result = {"settings": {"variants": {"full": {}, "ablation": {"use_disentanglers": False}}},
              "runs": [run("full", 13, 0.50, 0.50, 0.52, 0.52), run("full", 14, 0.50, 0.50, 0.51, 0.51),
                       run("ablation", 13, 0.50, 0.50, 0.50, 0.40), run("ablation", 14, 0.50, 0.50, 0.50, 0.45)]}
    lfdrt.summarise(result)
    h = result["headline"]
    # adapt wins on dev (+0.01); test gains: seed 13 +2 points, seed 14 +1 point -> mean 1.5, std 0.7071
    assert h["rethinking_variant"] == "adapt" and h["seeds"] == 2
    assert h["rethinking_gain_macro_f1"] == pytest.approx(1.5) and h["rethinking_gain_per_seed"] == [2.0, 1.0]
    assert h["rethinking_gain_std"] == pytest.approx(0.7071, abs=1e-4) and h["all_seeds_positive"]
    assert h["disagreement_before"]["avg"] == pytest.approx(0.1)
    # ablation minus full, after rethinking: avg over five targets; seed 13: ablation (0.5*4 + 0.40)/5 = 0.48 vs
    # full 0.52 -> -4 points; seed 14: (2 + 0.45)/5 = 0.49 vs 0.51 -> -2; Burmese: -12 and -6
    d = h["without_disentanglers_minus_full_macro_f1"]
    assert d["avg"] == pytest.approx(-3.0) and d["my"] == pytest.approx(-9.0)
    assert d["per_seed_avg"] == [-4.0, -2.0] and d["per_seed_my"] == [-12.0, -6.0]
    # the shared tie rule: |mean| 3 beats the spread (std of the differences 1.41, of either row 0.71) and both
    # seeds fall: a loss; Burmese -9 against a spread of 4.24 (ablation 40/45 -> 3.54): a loss too
    assert d["std_avg"] == pytest.approx(1.41) and d["verdict_avg"] == "loss" and d["verdict_my"] == "loss"
    assert d["before_rethinking_avg"]["differences"] == [0.0, 0.0] and d["before_rethinking_avg"]["verdict"] == "tie"


def test_lfdrt_merge_adds_ablation_seeds_and_redoes_the_headline():
    import lfdrt

    def scores(f1: float) -> dict:
        return {l: {"accuracy": 0.5, "macro_f1": f1, "weighted_f1": 0.5, "heads_agree": 0.9} for l in ("en", *lfdrt.TARGETS)}

    def run(variant: str, seed: int, f1: float) -> dict:
        rt = {l: {"agreement_before": 0.9, "agreement_after": 0.9} for l in lfdrt.TARGETS}
        return {"variant": variant, "seed": seed, "before": {"dev": scores(f1), "test": scores(f1)},
                "after": {"paper": {"dev": scores(f1), "test": scores(f1), "rethink": rt}}}

    paper = {"paper": {"rethink_lr": 5e-6}}
    base = {"command": "first", "machine": {"m": 1}, "minutes": 10, "note": "ablation: one seed",
            "settings": {"variants": {"full": {}, "abl": {"use_disentanglers": False}}, "rethink_variants": paper},
            "runs": [run("full", 13, 0.50), run("full", 14, 0.52), run("abl", 13, 0.40)]}
    extra = {"command": "second", "machine": {"m": 2}, "minutes": 5,
             "settings": {"variants": {"abl": {"use_disentanglers": False}}, "rethink_variants": paper},
             "runs": [run("abl", 14, 0.50)]}
    merged = lfdrt.merge_runs(base, extra)
    assert merged["settings"]["seeds_by_model"] == {"full": [13, 14], "abl": [13, 14]}
    assert merged["commands"] == ["first", "second"] and merged["minutes"] == 15 and "note" not in merged
    d = merged["headline"]["without_disentanglers_minus_full_macro_f1"]
    # -6 on average, but the differences spread 5.66 and the ablation's seeds 40/50 spread 7.07: a tie
    assert d["per_seed_avg"] == [-10.0, -2.0] and d["avg"] == -6.0 and d["verdict_avg"] == "tie"
    assert base["runs"][-1]["seed"] == 13 and "summary" not in base  # the base result is not modified


def test_gklmip_audit_file_covers_every_dev_row_once_with_a_known_label():
    from gklmip_audit import read_audit, stars_by_text

    rows = read_audit()
    assert len(rows) == 358
    assert all(row["gloss"].strip() for row in rows)
    table = stars_by_text(rows)
    assert sum(sum(c.values()) for c in table.values()) == 358
    # the reader check of benchmarks/data/README.md: no one- or two-star review read as praise
    assert table["1"]["positive"] == table["2"]["positive"] == 0


def test_gklmip_audit_refuses_gaps_and_unknown_labels(tmp_path):
    from gklmip_audit import read_audit

    header = "row\tstars\ttext_polarity\tgloss\n"
    gap = tmp_path / "gap.tsv"
    gap.write_text(header + "0\t5\tpositive\tgood\n2\t1\tnegative\tbad\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected 1"):
        read_audit(gap)
    odd = tmp_path / "odd.tsv"
    odd.write_text(header + "0\t5\tpraise\tgood\n", encoding="utf-8")
    with pytest.raises(ValueError, match="praise"):
        read_audit(odd)


def test_gklmip_audit_rescores_kept_predictions_against_other_labels_by_hand():
    from gklmip_audit import rescored_run, star_label

    assert [star_label(s) for s in "12345"] == ["negative", "negative", "neutral", "neutral", "positive"]
    rows = [
        {"id": "dev:0", "label": "negative", "probs": {"negative": 0.7, "neutral": 0.1, "positive": 0.2}},
        {"id": "dev:1", "label": "neutral", "probs": {"negative": 0.3, "neutral": 0.4, "positive": 0.3 - 1e-6}},
        {"id": "dev:2", "label": "positive", "probs": {"negative": 0.1, "neutral": 0.1, "positive": 0.8}},
        {"id": "dev:3", "label": "positive", "probs": {"negative": 0.2, "neutral": 0.2, "positive": 0.6}},
    ]
    run = {"results": {"ctam": {"dev": {"rows": rows, "macro_f1": 0.0}}}}
    stars = rescored_run(run, ["positive", "negative", "positive", "positive"])["results"]["ctam"]["dev"]
    text = rescored_run(run, ["negative", "negative", "positive", "positive"])["results"]["ctam"]["dev"]
    # stars: accuracy 2/4; pos-vs-neg (all four rows polar): negative P 0 R 0, positive P 2/2 R 2/3 -> F1 0.8
    assert stars["accuracy"] == pytest.approx(0.5)
    assert stars["pos_neg"]["macro_f1"] == pytest.approx(0.4)
    # text: row 1 is a miss three-way (neutral) but negative two-way (0.3 > 0.3 - 1e-6)
    assert text["pos_neg"]["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert text["pos_neg"]["two_way"]["macro_f1"] == pytest.approx(1.0)
    with pytest.raises(SystemExit, match="predictions for 3"):
        rescored_run(run, ["negative"] * 3)


def test_gklmip_audit_export_relabels_dev_rows_and_reads_back_as_jsonl(tmp_path):
    from gklmip_audit import audited_rows

    from xsent_core.data.jsonl import read_jsonl, write_jsonl
    from xsent_core.types import Example

    dev = [Example(id="dev:0", text="ပါဝါမလာပါ", lang="my", label="positive"),
           Example(id="dev:1", text="ကောင်းတယ်", lang="my", label="neutral")]
    audit = [{"row": "0", "stars": "5", "text_polarity": "negative", "gloss": "no power"},
             {"row": "1", "stars": "4", "text_polarity": "positive", "gloss": "good"}]
    out = tmp_path / "audited.jsonl"
    assert write_jsonl(out, audited_rows(dev, audit)) == 2
    back = read_jsonl(out)
    assert [(ex.id, ex.text, ex.lang, ex.label) for ex in back] == [
        ("dev:0", "ပါဝါမလာပါ", "my", "negative"), ("dev:1", "ကောင်းတယ်", "my", "positive")]
    assert back[0].meta["stars"] == "5"
    assert dev[0].label == "positive"  # the dev rows themselves are not changed


def test_gklmip_audit_refuses_a_star_value_outside_one_to_five(tmp_path):
    from gklmip_audit import read_audit

    bad = tmp_path / "stars.tsv"
    bad.write_text("row\tstars\ttext_polarity\tgloss\n0\t12\tpositive\tgood\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'12'"):
        read_audit(bad)


def test_ctam_seeds_takes_the_classifier_from_runs_of_the_same_seeds():
    from ctam_seeds import with_classifier_from

    runs = [{"budget": {"seed": s}, "command": f"run {s}", "results": {"vxlm": {"dev": s}}} for s in (13, 14)]
    donors = [{"budget": {"seed": s}, "command": f"donor {s}", "results": {"classifier": {"dev": -s}}} for s in (13, 14)]
    merged = with_classifier_from(runs, donors)
    assert [r["results"]["classifier"]["dev"] for r in merged] == [-13, -14]
    assert [r["results"]["vxlm"]["dev"] for r in merged] == [13, 14]
    assert merged[0]["command"] == "run 13 (classifier: donor 13)" and "classifier" not in runs[0]["results"]
    with pytest.raises(SystemExit, match="same seeds"):
        with_classifier_from(runs, donors[::-1])
    with pytest.raises(SystemExit, match="without a classifier"):
        with_classifier_from(runs, runs)


def test_soup_figures_by_hand():
    from benchmarks.soup import figures

    spans = figures({"dev": {"f1": 0.5}, "en": {"f1": 0.6}, "fr": {"f1": 0.4}, "es": {"f1": 0.2}})
    assert spans == pytest.approx({"dev": 50.0, "en": 60.0, "fr": 40.0, "es": 20.0, "target_avg": 30.0})
    sentence = figures({"dev": {"macro_f1": 0.5, "accuracy": 0.9}, "my-dev": {"macro_f1": 0.25, "pos_neg_macro_f1": 0.7}})
    assert sentence == pytest.approx({"dev": 50.0, "my-dev": 25.0, "my-dev pos-vs-neg": 70.0})


def test_wise_ft_scales_only_the_lora_b_half(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file
    from wise_ft import scaled_copy

    model = tmp_path / "model"
    model.mkdir()
    state = {"enc.q.lora_A.default.weight": torch.full((2, 4), 3.0, dtype=torch.float16),
             "enc.q.lora_B.default.weight": torch.full((4, 2), 2.0, dtype=torch.float16),
             "head.weight": torch.full((3, 4), 5.0)}
    save_file(state, str(model / "model.safetensors"))
    (model / "config.json").write_text("{}")
    out = load_file(str(scaled_copy(model, 0.25, tmp_path / "scaled") / "model.safetensors"))
    assert torch.equal(out["enc.q.lora_B.default.weight"], torch.full((4, 2), 0.5, dtype=torch.float16))  # B·A x 0.25
    assert torch.equal(out["enc.q.lora_A.default.weight"], state["enc.q.lora_A.default.weight"])
    assert torch.equal(out["head.weight"], state["head.weight"])
    assert (tmp_path / "scaled" / "config.json").is_file()
    assert torch.equal(load_file(str(model / "model.safetensors"))["enc.q.lora_B.default.weight"],
                       state["enc.q.lora_B.default.weight"])  # the source folder is untouched
    save_file({"head.weight": torch.ones(1)}, str(model / "model.safetensors"))
    with pytest.raises(SystemExit, match="no LoRA adapters"):
        scaled_copy(model, 0.5, tmp_path / "none")
