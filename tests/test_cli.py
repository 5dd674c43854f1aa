"""`python -m xsent_core` end to end on tiny real models, and its bad-input messages."""
from __future__ import annotations

import dataclasses
import json

import pytest

from xsent_core.cli import main

SEMEVAL_FR = "semeval:{data}/semeval16_restaurants/gold-fr-test.txt"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_predict_tagger_spans_point_into_input(tmp_path, capsys, tiny_tagger_dir):
    rows = [
        {"id": "a", "text": "The pizza was great but the waiter was rude."},
        {"id": "b", "text": "ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်"},
        {"id": "c", "text": "ok"},
    ]
    write_rows(tmp_path / "in.jsonl", rows)
    code, _, err = run(capsys, "predict", "--method", "tagger", "--model", str(tiny_tagger_dir),
                       "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"))
    assert code == 0, err
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in out] == ["a", "b", "c"]
    for row in out:
        assert "spans" in row
        for s in row["spans"]:
            assert row["text"][s["start"] : s["end"]] == s["text"]
            assert s["polarity"] in ("positive", "neutral", "negative")


def test_predict_classifier_adds_label_and_probs(tmp_path, capsys, tiny_classifier_dir):
    write_rows(tmp_path / "in.jsonl", [{"text": "Great food!"}, {"text": "x" * 100_000}])
    code, _, err = run(capsys, "predict", "--method", "classifier", "--model", str(tiny_classifier_dir),
                       "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"))
    assert code == 0, err
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(r["label"] in r["probs"] for r in out)
    assert abs(sum(out[0]["probs"].values()) - 1) < 1e-4
    assert any("truncated" in w for w in out[1]["warnings"])  # 100k chars: truncated with a warning


def test_empty_text_row_is_named(tmp_path, capsys, tiny_tagger_dir):
    write_rows(tmp_path / "in.jsonl", [{"text": "fine"}, {"text": ""}])
    code, _, err = run(capsys, "predict", "--method", "tagger", "--model", str(tiny_tagger_dir),
                       "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"))
    assert code == 2 and "line 2" in err and "empty" in err


def test_eval_prints_span_f1(capsys, tiny_tagger_dir):
    code, out, err = run(capsys, "eval", "--method", "tagger", "--model", str(tiny_tagger_dir), "--data", SEMEVAL_FR)
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["rows"] > 100 and 0.0 <= metrics["f1"] <= 1.0
    # extraction and polarity halves, so a reader sees which one fails
    assert metrics["f1"] <= metrics["span_only_f1"] + 1e-9
    assert 0.0 <= metrics["polarity_accuracy"] <= 1.0


def test_eval_prints_sentence_report_with_majority_baseline(capsys, tiny_classifier_dir, shared_data):
    gklmip = f"gklmip:{shared_data}/gklmip_myanmar_sentiment/dev.json"
    code, out, err = run(capsys, "eval", "--method", "classifier", "--model", str(tiny_classifier_dir), "--data", gklmip)
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 358 and len(report["confusion_matrix"]) == 3
    assert set(report["per_class"]["negative"]) == {"precision", "recall", "f1", "support"}
    assert report["majority"]["label"] == "positive"
    assert 0.0 <= report["pos_neg"]["macro_f1"] <= 1.0 and "majority" in report["pos_neg"]


def test_missing_model_folder_is_one_clear_line(tmp_path, capsys):
    code, _, err = run(capsys, "eval", "--method", "tagger", "--model", str(tmp_path / "nope"), "--data", SEMEVAL_FR)
    assert code == 2
    assert err.strip() == f"error: model folder {tmp_path / 'nope'} does not exist"


def test_wrong_method_for_model(capsys, tiny_tagger_dir):
    code, _, err = run(capsys, "eval", "--method", "classifier", "--model", str(tiny_tagger_dir), "--data", SEMEVAL_FR)
    assert code == 2 and "holds a 'tagger' model, not a 'classifier' model" in err


def test_invalid_utf8_input_names_file_and_line(tmp_path, capsys, tiny_tagger_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    code, _, err = run(capsys, "predict", "--method", "tagger", "--model", str(tiny_tagger_dir),
                       "--input", str(bad), "--output", str(tmp_path / "out.jsonl"))
    assert code == 2
    assert "bad.jsonl" in err and "line 2" in err
    assert not (tmp_path / "out.jsonl").exists()  # no half-written output


def test_unknown_format(capsys):
    code, _, err = run(capsys, "eval", "--method", "tagger", "--data", "xml:foo.xml")
    assert code == 2 and "xml" in err


def test_export_conll_and_hf(tmp_path, capsys):
    code, out, err = run(capsys, "export", "--data", SEMEVAL_FR + "#5", "--to", "conll", "--out", str(tmp_path / "fr.conll"))
    assert code == 0, err
    from xsent_core.data.conll import read_conll
    from xsent_core.recipes import load_data

    original = load_data(SEMEVAL_FR + "#5")
    back = read_conll(tmp_path / "fr.conll")
    assert [[(s.start, s.end, s.polarity) for s in e.spans or ()] for e in back] == [
        [(s.start, s.end, s.polarity) for s in e.spans or ()] for e in original
    ]
    code, _, err = run(capsys, "export", "--data", SEMEVAL_FR + "#5", "--to", "hf", "--out", str(tmp_path / "hf"))
    assert code == 0, err
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "hf"))
    assert len(ds) == 5 and ds[0]["text"] == original[0].text


def test_methods_lists_presets(capsys):
    code, out, _ = run(capsys, "methods")
    assert code == 0 and "tagger-builtin" in out and "classifier-builtin" in out


@pytest.mark.parametrize("preset", ["nope"])
def test_unknown_preset(tmp_path, capsys, preset):
    code, _, err = run(capsys, "train", "--method", "tagger", "--preset", preset, "--out", str(tmp_path / "m"))
    assert code == 2 and "no preset 'nope'" in err


def test_sharded_predict_merges_in_input_order(tmp_path, capsys, tiny_classifier_dir):
    rows = [{"id": str(i), "text": f"sentence number {i} was {'good' if i % 2 else 'bad'}"} for i in range(7)]
    write_rows(tmp_path / "in.jsonl", rows)
    parts = []
    for shard in range(3):
        code, _, err = run(capsys, "predict", "--method", "classifier", "--model", str(tiny_classifier_dir),
                           "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"),
                           "--num-shards", "3", "--shard-index", str(shard))
        assert code == 0, err
        parts.append(str(tmp_path / f"out.jsonl.part-{shard:05d}-of-00003"))
    code, _, err = run(capsys, "merge", "--output", str(tmp_path / "out.jsonl"), *reversed(parts))
    assert code == 0, err
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in out] == [str(i) for i in range(7)]
    assert all("_row" not in r and r["label"] for r in out)
    # the same rows predicted in one process give the same labels
    code, _, _ = run(capsys, "predict", "--method", "classifier", "--model", str(tiny_classifier_dir),
                     "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "one.jsonl"))
    one = [json.loads(l) for l in (tmp_path / "one.jsonl").read_text(encoding="utf-8").splitlines()]
    for a, b in zip(one, out):  # batch padding may move probabilities by rounding only
        assert a["id"] == b["id"] and all(abs(a["probs"][k] - b["probs"][k]) < 1e-4 for k in a["probs"])


def test_unknown_method_is_named_and_presets_belong_to_their_method(tmp_path, capsys):
    write_rows(tmp_path / "a.jsonl", [{"id": "1", "text": "good food"}])
    code, _, err = run(capsys, "predict", "--method", "nosuch", "--input", str(tmp_path / "a.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert code == 2 and "unknown method 'nosuch'; known methods: tagger" in err and "folder" not in err
    code, out, _ = run(capsys, "methods")
    assert code == 0
    groups, current = {}, None
    for line in out.splitlines():
        if not line.startswith(" "):
            current = line.strip()
            groups[current] = []
        else:
            groups[current].append(line.split(":")[0].strip())
    assert all(name.startswith("vxlm-") for name in groups["vxlm"]) and all(name.startswith("ctam-") for name in groups["ctam"]) and "ctam-builtin" in groups["ctam"] and "vxlm-builtin" not in groups["ctam"]


def test_file_errors_are_one_line(tmp_path, capsys):
    write_rows(tmp_path / "a.jsonl", [{"id": "1", "text": "good food", "label": "positive"}])
    (tmp_path / "folder").mkdir()
    cases = [
        (["export", "--data", f"jsonl:{tmp_path / 'a.jsonl'}", "--to", "jsonl", "--out", str(tmp_path / "folder")], "is a folder"),
        (["export", "--data", f"jsonl:{tmp_path / 'a.jsonl'}", "--to", "labelstudio", "--out", str(tmp_path / "folder")], "is a folder"),
        (["merge", "--output", str(tmp_path / "m.jsonl"), str(tmp_path / "missing.part")], "missing.part"),
        (["export", "--data", f"jsonl:{tmp_path / 'a.jsonl'}", "--to", "jsonl", "--out", "/proc/xsent-nope/x.jsonl"], "xsent-nope"),
    ]
    for argv, needle in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


@pytest.mark.parametrize("shards", [["--num-shards", "0"], ["--num-shards", "2", "--shard-index", "2"], ["--num-shards", "-1"]])
def test_impossible_shards_are_refused(tmp_path, capsys, tiny_classifier_dir, shards):
    write_rows(tmp_path / "in.jsonl", [{"id": "1", "text": "fine"}])
    code, _, err = run(capsys, "predict", "--method", "classifier", "--model", str(tiny_classifier_dir),
                       "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"), *shards)
    assert code == 2 and "--num-shards must be at least 1" in err and err.count("\n") == 1
    assert not list(tmp_path.glob("out.jsonl*"))


def test_train_on_own_data_file(tmp_path, capsys, shared_data):
    from xsent_core.data import load_examples

    rows = load_examples(f"semeval:{shared_data}/semeval16_restaurants/gold-fr-train.txt")[:40]
    mine = tmp_path / "mine.jsonl"
    write_rows(mine, [{"id": r.id, "text": r.text, "spans": [dataclasses.asdict(s) for s in r.spans]} for r in rows])
    out = tmp_path / "m"
    data = json.dumps({"train": f"jsonl:{mine}", "dev": f"jsonl:{mine}"})
    code, stdout, err = run(capsys, "train", "--method", "tagger", "--preset", "tagger-tiny", "--out", str(out), "--data", data)
    assert code == 0, err
    card = (out / "README.md").read_text(encoding="utf-8")
    assert str(mine) in card  # the card records the data actually used


@pytest.mark.parametrize(
    "data, message",
    [
        ("{not json", "--data: not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"validation": "jsonl:x.jsonl"}', "has no data entry 'validation'"),
        ('{"train": 3}', "expected FORMAT:PATH strings"),
    ],
)
def test_bad_data_override_is_one_clear_line(tmp_path, capsys, data, message):
    code, _, err = run(capsys, "train", "--method", "tagger", "--preset", "tagger-tiny", "--out", str(tmp_path / "m"), "--data", data)
    assert code == 2 and message in err, err


def test_distill_from_a_file_is_the_apps_job_as_a_command(tmp_path, capsys, tiny_tagger_dir, shared_data):
    """`distill` runs xsent_core.jobs.distill_job: a span in the file is a hard label, before/after on a held-out slice."""
    rows = tmp_path / "sentences.jsonl"
    rows.write_text(
        json.dumps({"id": "a", "text": "The fish was fresh but the service was slow.",
                    "spans": [{"start": 4, "end": 8, "text": "fish", "polarity": "positive"}]}) + "\n"
        + json.dumps({"id": "b", "text": "Le service était lent."}) + "\n", encoding="utf-8")
    out = tmp_path / "student"
    assert main(["distill", "--teacher", str(tiny_tagger_dir), "--data", f"jsonl:{rows}", "--out", str(out), "--steps", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "msmo" and report["model"] == str(out) and (out / "config.json").is_file()
    assert report["train_report"]["counts"]["hard"] == 1
    assert report["heldout"]["rows"] > 0 and "{data}" not in report["heldout"]["data"]
    assert "f1" in report["after"] and report["before"]["model"] == tiny_tagger_dir.name


def test_rethink_refuses_a_model_of_another_method(tmp_path, capsys, tiny_tagger_dir):
    rows = tmp_path / "texts.jsonl"
    rows.write_text(json.dumps({"text": "ok"}) + "\n", encoding="utf-8")
    assert main(["rethink", "--base", str(tiny_tagger_dir), "--data", f"jsonl:{rows}", "--out", str(tmp_path / "o")]) == 2
    assert "holds a 'tagger' model; this command needs lfdrt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
