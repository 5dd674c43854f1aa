"""Importing the M2SA release layout (tweet ids + labels) with the user's tweets and images."""
from __future__ import annotations

import json
import zipfile

import pytest
from PIL import Image

from xsent_core.data import load_examples
from xsent_core.methods.m2sa.importer import import_m2sa, main

LABELS = ("negative", "neutral", "positive")


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def release(tmp_path):
    """A release folder in the authors' layout, the user's texts and an images folder."""
    rel = tmp_path / "final_dataset"
    rel.mkdir()
    en_train = [{"tweetid": 1000 + i, "ds_language": "en", "language": "en", "label": LABELS[i % 3]} for i in range(30)]
    en_test = [{"tweetid": 2000 + i, "ds_language": "en", "language": "en", "label": LABELS[i % 3]} for i in range(6)]
    en_test.append({"tweetid": 2999, "language": "en", "label": "mixed"})  # not a 3-way label
    en_test.append({"tweetid": 1000, "language": "en", "label": "neutral"})  # duplicate of a train tweet
    en_test.append({"tweetid": 3333, "language": "en", "label": "positive"})  # no text supplied
    fr_only_train = [{"tweetid": 4000 + i, "language": "fr", "label": LABELS[i % 3]} for i in range(40)]
    _jsonl(rel / "11.CB_COLING2014_vanzo@conv_training_set.json", en_train)
    _jsonl(rel / "10.CB_COLING2014_vanzo@conv_testing_set.json", en_test)
    _jsonl(rel / "26.deft2015@T1.json", fr_only_train)
    _jsonl(rel / "fr_mt.43.RETWEET_data@train_final_label.json", [{"tweetid": 9000, "language": "fr", "label": "positive"}])
    (rel / "broken.json").write_text('{"tweetid": 5, "language": "en", "label": "positive"}\nnot json\n', encoding="utf-8")

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(images / "1000.jpg")
    Image.new("RGBA", (20, 20), (0, 0, 255, 128)).save(images / "2001_3_1.png")  # <id>_<media>.png
    (images / "1001.jpg").write_bytes(b"\xff\xd8\xff corrupt")
    (images / "4002").mkdir()
    Image.new("L", (16, 16), 90).save(images / "4002" / "a.png")  # folder named by tweet id

    texts = [{"tweetid": str(t), "text": f"tweet {t}"} for t in [*range(1000, 1030), *range(2000, 2006), 2999, *range(4000, 4040), 9000, 5]]
    texts.append({"tweet_id": "2005", "text": "second copy is ignored"})
    texts.append({"tweetid": "2004", "text": "listed", "image_paths": ["missing.jpg"]})  # duplicate id: first wins
    texts[texts.index({"tweetid": "2003", "text": "tweet 2003"})] = {"tweetid": "2003", "text": "with listed image", "image": "nope/missing.jpg"}
    _jsonl(tmp_path / "tweets.jsonl", texts)
    return rel, tmp_path / "tweets.jsonl", images


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_import_writes_splits_and_reports_unresolved(release, tmp_path):
    rel, texts, images = release
    out = tmp_path / "out"
    report = import_m2sa(rel, texts, out, images=images)
    reasons = {(u["tweetid"], u["reason"].split(":")[0]) for u in report.unresolved}
    assert ("2999", "label 'mixed' is not one of negative, neutral, positive") in reasons
    assert ("1000", "duplicate tweet id") in reasons
    assert ("3333", "no text supplied for this tweet id") in reasons
    assert (None, "not a JSON object") in reasons  # the "not json" line, with its file and line
    assert not any(u["tweetid"] == "9000" for u in report.unresolved)  # translations skipped, not failed
    # English has its own test file -> dev = 10 % of train; French has none -> 90/5/5
    assert report.languages["en"] == {"train": 27, "dev": 3, "test": 7}  # 1000 first seen in the test file
    assert report.languages["fr"] == {"train": 34, "dev": 3, "test": 3}  # 5 % of each class, at least one
    bad = {b["tweetid"]: b["error"] for b in report.bad_images}
    assert set(bad) == {"1001", "2003"} and "not an image" in bad["1001"] and "not found" in bad["2003"]

    rows = {ex.id: ex for split in ("train", "dev", "test") for ex in load_examples(f"jsonl:{out / (split + '.jsonl')}")}
    assert rows["1000"].image and open(rows["1000"].image, "rb")  # resolved relative to the JSONL file
    assert rows["2001"].image.endswith("2001_3_1.png") and rows["4002"].image.endswith("a.png")
    assert rows["1001"].image is None and rows["2003"].image is None  # bad image: kept as text only
    assert rows["1000"].lang == "en" and rows["1000"].label == "neutral" and rows["1000"].text == "tweet 1000"
    assert rows["5"].label == "positive"  # the good line of the broken file
    raw = _read(out / "train.jsonl")[0]
    assert not raw.get("image", "").startswith("/")  # paths stay relative: the folder can move
    assert len(_read(out / "unresolved.jsonl")) == len(report.unresolved)
    assert json.loads((out / "import_report.json").read_text())["unresolved"] == len(report.unresolved)


def test_import_is_deterministic_and_reads_the_zip(release, tmp_path):
    rel, texts, images = release
    a = import_m2sa(rel, texts, tmp_path / "a", images=images)
    archive = tmp_path / "final_dataset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(rel.iterdir()):
            zf.write(p, f"final_dataset/{p.name}")
    b = import_m2sa(archive, texts, tmp_path / "b", images=images)
    assert a.languages == b.languages and len(a.unresolved) == len(b.unresolved)
    for split in ("train", "dev", "test"):
        assert [r["id"] for r in _read(tmp_path / "a" / f"{split}.jsonl")] == [r["id"] for r in _read(tmp_path / "b" / f"{split}.jsonl")]


def test_import_options(release, tmp_path):
    rel, texts, images = release
    with_mt = import_m2sa(rel, texts, tmp_path / "mt", images=images, with_translations=True, languages=["fr"])
    assert set(with_mt.languages) == {"fr"} and with_mt.languages["fr"]["train"] == 35
    assert any(r.get("translated") for r in _read(tmp_path / "mt" / "train.jsonl"))
    strict = import_m2sa(rel, texts, tmp_path / "strict", images=images, require_image=True)
    imported = sum(strict.written.values())
    assert imported == 3  # 1000, 2001, 4002: the only tweets with a readable image
    assert any(u["reason"].startswith("no usable image") for u in strict.unresolved)


def test_cli_and_bad_input(release, tmp_path, capsys):
    rel, texts, images = release
    code = main(["--release", str(rel), "--texts", str(texts), "--images", str(images), "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 0 and json.loads(captured.out)["written"]["train"] > 0
    assert "were not imported" in captured.err
    assert main(["--release", str(tmp_path / "absent"), "--texts", str(texts), "--out", str(tmp_path / "x")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    assert main(["--release", str(rel), "--texts", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "y")]) == 2
    assert "no row has both a tweet id" in capsys.readouterr().err


@pytest.mark.slow  # ~20 s of CPU: two model builds; each piece has a fast test of its own
def test_imported_data_trains_through_the_paper_preset(release, tmp_path, monkeypatch):
    """importer -> $XSENT_M2SA_DATA -> `m2sa-paper` (its data specs), with builtin encoders swapped in."""
    from xsent_core.recipes import run_preset

    rel, texts, images = release
    data = tmp_path / "m2sa-data"
    import_m2sa(rel, texts, data, images=images)
    monkeypatch.setenv("XSENT_M2SA_DATA", str(data))
    report = run_preset(
        "m2sa", "m2sa-paper", tmp_path / "model", progress=False,
        overrides={"encoder": "builtin", "image_encoder": "builtin", "train_from_layer": 12, "text_pooling": None,
                   "max_length": 32},
        train_overrides={"epochs": 1, "max_steps": 3, "eval_every": None, "batch_size": 16},
    )
    assert report["status"] == "finished" and report["images"]["rows"] == 61  # 27 en + 34 fr
    scores = report["test"]["all"]
    assert {"macro_f1_en", "macro_f1_fr"} <= set(scores) and scores["errors"] == 0  # image rows predicted too
    card = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    assert "m2sa-paper" in card and "with an image" in card
    monkeypatch.setenv("XSENT_M2SA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(Exception, match="nowhere"):
        run_preset("m2sa", "m2sa-paper", tmp_path / "m2", progress=False,
                   overrides={"encoder": "builtin", "image_encoder": "builtin", "text_pooling": None})
