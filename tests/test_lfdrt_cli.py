"""LFD-RT as a job from the CLI: pre-train a tiny preset, then rethink on unlabelled text."""
from __future__ import annotations

import json

import pytest

from xsent_core.cli import main

FR_TRAIN = "semeval:{data}/semeval16_restaurants/gold-fr-train.txt"


@pytest.mark.slow
def test_train_then_rethink_from_cli(tmp_path, capsys, shared_data):
    out = tmp_path / "lfdrt"
    code = main(["train", "--method", "lfdrt", "--preset", "lfdrt-tiny", "--out", str(out),
                 "--unlabelled", FR_TRAIN + "#10", "--half"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "finished"
    assert report["pairs"][0]["lang"] == "fr" and report["pairs"][0]["used"] == 24
    assert report["rethink"]["rows"] == 10 and report["rethink"]["languages"] == {"fr": 10}
    assert (out / "config.json").is_file() and (out / "README.md").is_file()
    assert (tmp_path / "lfdrt-pretrained" / "config.json").is_file()  # the model before rethinking
    assert not (out / "checkpoints").exists()
    from xsent_core.registry import load_model

    model = load_model(out, expected_method="lfdrt")
    assert model.predict([__import__("xsent_core.types", fromlist=["Example"]).Example("a", "Très bon", "fr")])[0].label


def test_cli_refuses_a_one_row_unlabelled_set_before_training(tmp_path, capsys, shared_data):
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"text": "Une seule phrase", "lang": "fr"}) + "\n", encoding="utf-8")
    code = main(["train", "--method", "lfdrt", "--preset", "lfdrt-tiny", "--out", str(tmp_path / "m"),
                 "--unlabelled", f"jsonl:{one}"])
    err = capsys.readouterr().err
    assert code == 2 and "at least 2 rows" in err and "not changed" in err
    assert not (tmp_path / "m").exists()


def test_cli_refuses_unknown_language(tmp_path, capsys, shared_data):
    rows = tmp_path / "xx.jsonl"
    rows.write_text("".join(json.dumps({"text": t, "lang": "tlh"}) + "\n" for t in ("nuqneH", "Qapla'")), encoding="utf-8")
    code = main(["train", "--method", "lfdrt", "--preset", "lfdrt-tiny", "--out", str(tmp_path / "m"),
                 "--unlabelled", f"jsonl:{rows}"])
    assert code == 2 and "'tlh' (2 rows)" in capsys.readouterr().err


def test_shipped_default_rethinks_burmese_from_cli(tmp_path, capsys, shared_data):
    """The shipped default loads, predicts, and the rethink-only preset adapts it to Burmese rows."""
    from xsent_core.paths import shipped_models_dir
    from xsent_core.registry import load_model, read_model_card
    from xsent_core.types import Example

    shipped = shipped_models_dir() / "lfdrt"
    card = read_model_card(shipped)
    assert card.method == "lfdrt" and (shipped / "README.md").is_file()
    assert (shipped / "model.safetensors").stat().st_size < 10 * 2**20
    model = load_model(shipped, expected_method="lfdrt")
    pred = model.predict([Example("m", "ဒီဆိုင်က အစားအစာ အရမ်းကောင်းတယ်")])[0]
    assert pred.extras["family"] == "sino_tibetan" and isinstance(pred.extras["heads_agree"], bool)
    rows = tmp_path / "my.jsonl"
    texts = ["အရမ်းကောင်းတယ်", "မကောင်းဘူး", "ဈေးကြီးတယ်", "ဝန်ဆောင်မှု ကောင်းတယ်"]
    rows.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")  # no lang: script says Burmese
    out = tmp_path / "rt"
    code = main(["train", "--method", "lfdrt", "--preset", "lfdrt-rethink", "--out", str(out),
                 "--unlabelled", f"jsonl:{rows}", "--config", '{"rethink_epochs": 1}'])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["rethink"]["languages"] == {"my": 4}
    assert load_model(out, expected_method="lfdrt").config.rethink_epochs == 1
    # the end of the run is the shared finish_run: record, metrics and card of the rethought model
    saved = read_model_card(out)
    assert saved.training["preset"] == "lfdrt-rethink" and saved.training["rethink_rows"] == 4
    assert saved.training["unlabelled"] == f"jsonl:{rows}" and saved.training["seconds"] > 0
    assert saved.metrics["rethink_agreement"] == report["rethink"]["agreement_after"]
    assert saved.metrics["test"] == {} and "test_before_rethinking" in saved.metrics
    assert report["init_model"] == str(shipped) and not (out / "checkpoints").exists()
    assert "Rethinking" in (out / "README.md").read_text(encoding="utf-8")


def test_rethink_command_is_the_apps_job_with_before_and_after(tmp_path, capsys, shared_data):
    """`rethink` = xsent_core.jobs.rethink_job, the call the app's runner makes: labels unused, held-out fallback."""
    from xsent_core.paths import shipped_models_dir

    rows = tmp_path / "my.jsonl"
    texts = ["အရမ်းကောင်းတယ်", "မကောင်းဘူး", "ဈေးကြီးတယ်", "ဝန်ဆောင်မှု ကောင်းတယ်"]
    rows.write_text("".join(json.dumps({"text": t, "label": "positive"}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "rt"
    code = main(["rethink", "--base", str(shipped_models_dir() / "lfdrt"), "--data", f"jsonl:{rows}",
                 "--out", str(out), "--steps", "1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["method"] == "lfdrt" and (out / "config.json").is_file()
    assert report["train_report"]["rows"] == 4 and report["train_report"]["languages"] == {"my": 4}
    # 4 labelled rows are too few to hold out: the GKLMIP dev slice is the comparison
    assert report["heldout"]["data"].endswith("gklmip_myanmar_sentiment/dev.json") and 0 < report["heldout"]["rows"] <= 64
    assert {"accuracy", "macro_f1"} <= set(report["before"]) and {"accuracy", "macro_f1"} <= set(report["after"])
