"""Label Studio round trip: reading a hand-written export, storing it as versions, exporting it back."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from db.labelstudio import export_labelstudio, import_labelstudio
from db.records import ImportedDocument, ImportedVersion
from db.store import Store
from xsent_core.data.labelstudio import labeling_config, parse_label_map, read_labelstudio
from xsent_core.types import AspectSpan, Example, InputError, Prediction

FIXTURE = Path(__file__).parent / "fixtures" / "labelstudio_export.json"
# the project's own label names, as a team would type them
LABELS = "Good=positive, Bad=negative, Mixed=neutral"
FISH = "😋 The fish was fresh but the service was slow 🐢"
SERVICE_MY = "ဒီဆိုင်က ဝန်ဆောင်မှု အရမ်းဆိုးတယ် 😡"
FOOD_MY = "🍜 အစားအသောက် ကောင်းတယ် 👍 ဒါပေမဲ့ ဈေးကြီးတယ်"


def spans_of(annotation) -> set[tuple[str, str]]:
    return {(s.text, s.polarity) for s in annotation.spans}


def write(tmp_path: Path, tasks, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def task(text: str, *results, task_id: int = 1, **annotation) -> dict:
    return {"id": task_id, "data": {"text": text}, "annotations": [{"completed_by": 1, "result": list(results), **annotation}]}


def span(start: int, end: int, text: str | None, label: str = "Positive") -> dict:
    value = {"start": start, "end": end, "labels": [label]}
    if text is not None:
        value["text"] = text
    return {"type": "labels", "from_name": "aspect", "to_name": "text", "value": value}


# ----------------------------------------------------------------------------- reading


def test_hand_written_export_reads_with_correct_offsets_annotators_and_times():
    read = read_labelstudio(FIXTURE, parse_label_map(LABELS), annotators={"2": "bob"})
    fish, service, food, french = read.tasks
    assert [t.external_id for t in read.tasks] == ["labelstudio:101", "labelstudio:102", "labelstudio:103", "labelstudio:104"]
    # alice's annotation came from an older front end counting UTF-16 units after the emoji; bob's counts code points
    alice, bob = fish.annotations
    assert (alice.annotator, bob.annotator) == ("alice@example.org", "bob")
    for ann in (alice, bob):
        assert [(s.start, s.end, s.text, s.polarity) for s in ann.spans] == [(6, 10, "fish", "positive"), (29, 36, "service", "negative")]
        assert all(FISH[s.start : s.end] == s.text for s in ann.spans)
    assert (alice.label, bob.label) == (None, "neutral")
    assert alice.created == "2026-11-20T09:10:00.123456+00:00" and bob.created == "2026-11-21T10:05:00.000000+00:00"
    # Burmese with emoji: a code-point span before the emoji, and UTF-16 spans after an emoji at the start
    assert [a.annotator for a in service.annotations] == ["bob", "alice@example.org"]  # time order
    assert [spans_of(a) for a in service.annotations] == [{("ဝန်ဆောင်မှု", "neutral")}, {("ဝန်ဆောင်မှု", "negative")}]
    assert service.annotations[1].label == "negative" and service.lang == "my"
    (only,) = food.annotations  # the cancelled one is skipped
    assert [(s.start, s.end, s.text) for s in only.spans] == [(2, 12, "အစားအသောက်"), (33, 36, "ဈေး")]
    assert all(FOOD_MY[s.start : s.end] == s.text for s in only.spans)
    assert french.annotations[0].label == "negative" and french.annotations[0].spans == ()
    # predictions keep their model version and score
    (pred,) = fish.predictions
    assert (pred.model_version, pred.score, pred.spans[0].text, pred.spans[0].score) == ("absa-v1", 0.71, "fish", 0.71)
    assert french.predictions[0].label == "negative"
    report = "\n".join(read.report())
    assert "1 × cancelled" in report and "'rating'" in report
    assert read.utf16_spans == 4 and read.trimmed_spans == 1  # bob's "service " had a trailing space


def test_label_that_does_not_map_names_the_task_and_the_label():
    with pytest.raises(InputError, match=r"task 0 \(id 101\): annotation 0: result 0: label 'Good' does not map"):
        read_labelstudio(FIXTURE)
    with pytest.raises(InputError, match=r"task 0 \(id 101\): annotation 1: result 2: label 'Mixed'"):
        read_labelstudio(FIXTURE, parse_label_map("Good=positive, Bad=negative"))


def test_label_map_parsing():
    m = parse_label_map("Good = positive, bad=NEG, Mixed=neutral, Meh=neu")
    assert (m.polarity("GOOD"), m.polarity("Bad"), m.polarity("meh"), m.polarity("Positive"), m.polarity("pos")) == (
        "positive", "negative", "neutral", "positive", "positive",
    )
    assert m.names == {"positive": "Good", "negative": "bad", "neutral": "Mixed"}  # the first name given is written
    assert parse_label_map(None).names == {"negative": "Negative", "neutral": "Neutral", "positive": "Positive"}
    with pytest.raises(InputError, match="polarity must be one of"):
        parse_label_map("Good=great")
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_label_map("Good")


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"data": {"text": "ok"}},\n {"data": ', r"line 2 column .* \(in task 1\)"),
        ('[{"data": {"text": "a"}}, {"data": {"text": "b"}},\n {"data": {"text": "c",}}]', r"line 2 column .* \(in task 2\)"),
        ('{"tasks": []}', "expected a Label Studio JSON export"),
        ('[{"data": {"text": "ok"}}, "oops"]', "task 1: expected an object"),
        ('[{"data": {"text": "ok"}}, {"id": 9}]', r"task 1 \(id 9\): no 'data' object"),
        ('[{"data": {"a": "x", "b": "y"}}]', "cannot tell which data field holds the text"),
        ('[{"data": {"text": "  "}}]', "task 0: the text is empty"),
        ('[{"data": {"text": "\\ud800"}}]', "lone surrogate"),
        ('[{"data": {"text": "ok"}, "annotations": {}}]', "'annotations' must be a list"),
        ('[{"data": {"text": "ok"}, "annotations": [{"result": [{"type": "labels", "value": {"start": 0, "end": 9, "labels": ["Positive"]}}]}]}]',
         r"task 0: annotation 0: result 0: span offsets 0–9 do not fit"),
        ('[{"data": {"text": "ok"}, "annotations": [{"created_at": "yesterday", "result": [{"type": "choices", "value": {"choices": ["Positive"]}}]}]}]', "not an ISO 8601 time"),
    ],
)
def test_malformed_exports_name_the_task(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_labelstudio(path)


def test_span_text_decides_the_offset_unit_and_mismatches_are_refused(tmp_path):
    text = "🙂🙂 tea"
    # code points 3-6, UTF-16 units 5-8: both readings are in range, the span's own text decides
    read = read_labelstudio(write(tmp_path, [task(text, span(5, 8, "tea"))]))
    assert read.tasks[0].annotations[0].spans[0].text == "tea" and read.utf16_spans == 1
    read = read_labelstudio(write(tmp_path, [task(text, span(3, 6, "tea"))]))
    assert read.tasks[0].annotations[0].spans[0].text == "tea" and read.utf16_spans == 0
    with pytest.raises(InputError, match="its text 'coffee' is not at those offsets"):
        read_labelstudio(write(tmp_path, [task(text, span(3, 6, "coffee"))]))
    with pytest.raises(InputError, match="overlap"):
        read_labelstudio(write(tmp_path, [task("good tea", span(0, 4, "good"), span(2, 8, "od tea"))]))
    with pytest.raises(InputError, match="labelled both positive and negative"):
        read_labelstudio(write(tmp_path, [task("tea", span(0, 3, "tea"), span(0, 3, "tea", "Negative"))]))
    with pytest.raises(InputError, match="mean different polarities"):
        read_labelstudio(write(tmp_path, [task("tea", {"type": "choices", "value": {"choices": ["Positive", "Negative"]}})]))


def test_size_limit_is_checked_before_parsing(tmp_path):
    with pytest.raises(InputError, match="over the .* limit"):
        read_labelstudio(FIXTURE, parse_label_map(LABELS), max_bytes=100)


def test_text_field_can_be_named(tmp_path):
    path = write(tmp_path, [{"id": 5, "data": {"review": "Nice tea", "title": "x"}}])
    assert read_labelstudio(path, text_field="review").tasks[0].text == "Nice tea"
    with pytest.raises(InputError, match="no data field 'body'"):
        read_labelstudio(path, text_field="body")


# ----------------------------------------------------------------------------- the store


def test_import_makes_one_version_per_annotation_and_reimport_adds_nothing(tmp_path):
    with Store.open(tmp_path / "s.sqlite3") as store:
        summary, read = import_labelstudio(store, FIXTURE, parse_label_map(LABELS), annotators={"2": "bob"})
        assert (summary.documents_added, summary.versions_added, summary.predictions_added) == (4, 6, 2)
        docs = {store.get_document(i).text: i for i in summary.document_ids}
        fish = store.annotation_history(docs[FISH])
        assert [(a.version, a.annotator, a.created) for a in fish] == [
            (1, "alice@example.org", "2026-11-20T09:10:00.123456+00:00"),
            (2, "bob", "2026-11-21T10:05:00.000000+00:00"),
        ]
        assert fish[1].parent_version == 1 and not fish[1].stale_parent
        assert spans_of(store.current_annotation(docs[SERVICE_MY])) == {("ဝန်ဆောင်မှု", "negative")}
        assert store.get_document(docs[FOOD_MY]).source == "labelstudio:labelstudio_export.json"
        pred = store.latest_prediction(docs[FISH])
        assert (pred.model, pred.method, pred.prediction.spans[0].text) == ("absa-v1", "labelstudio", "fish")

        again, _ = import_labelstudio(store, FIXTURE, parse_label_map(LABELS), annotators={"2": "bob"})
        assert again.document_ids == summary.document_ids
        assert (again.documents_added, again.versions_added, again.predictions_added) == (0, 0, 0)
        assert (again.documents_matched, again.versions_skipped, again.predictions_skipped) == (4, 6, 2)
        assert store.count_documents() == 4


def history(store: Store) -> dict[str, list[tuple]]:
    return {
        b.document.text: [(v.version, v.annotator, v.created, v.label, tuple((s.start, s.end, s.polarity) for s in v.spans)) for v in b.versions]
        for b in store.document_bundles()
    }


def test_export_then_import_is_lossless_and_idempotent(tmp_path):
    labels = parse_label_map(LABELS)
    with Store.open(tmp_path / "a.sqlite3") as a:
        import_labelstudio(a, FIXTURE, labels, annotators={"2": "bob"})
        # work done in xsent after the import: a correction and a model's output
        doc = a.list_documents(limit=10)[-1]  # the first task's document
        a.save_annotation(doc.id, "chan", "neutral", [{"start": 6, "end": 10, "polarity": "positive"}], 2, note="fixed")
        a.record_prediction(doc.id, "tagger-default", "2026-11-01", "tagger", Prediction(spans=(AspectSpan(29, 36, "service", "negative", 0.83),)))
        first = export_labelstudio(a, tmp_path / "a.json", labels)
        assert (first.tasks, first.annotations, first.predictions) == (4, 7, 3)
        before = history(a)
        summary, _ = import_labelstudio(a, first.path, labels)  # back into its own store
        assert (summary.documents_added, summary.versions_added, summary.predictions_added) == (0, 0, 0)
        assert history(a) == before

    with Store.open(tmp_path / "b.sqlite3") as b:
        import_labelstudio(b, tmp_path / "a.json", labels)
        assert history(b) == before  # same spans, labels, annotators, times and version numbers
        second = export_labelstudio(b, tmp_path / "b.json", labels)
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8")) == json.loads(first.path.read_text(encoding="utf-8"))
    assert second.labeling_config == labeling_config(labels)


def test_exported_file_is_label_studio_json_with_predictions(tmp_path):
    with Store.open(tmp_path / "s.sqlite3") as store:
        (doc_id,) = store.add_documents([Example(id="x", text="Great wine, terrible desserts 🍰", lang="en")])
        store.record_prediction(
            doc_id, "tagger-default", "v1", "tagger",
            Prediction(spans=(AspectSpan(6, 10, "wine", "positive", 0.9), AspectSpan(21, 29, "desserts", "negative", 0.8))),
        )
        store.record_prediction(doc_id, "classifier-default", "v1", "classifier", Prediction(label="negative", probs={"negative": 0.6, "neutral": 0.1, "positive": 0.3}))
        done = export_labelstudio(store, tmp_path / "out.json", parse_label_map("Good=positive,Bad=negative,Mixed=neutral"))
    (t,) = json.loads(done.path.read_text(encoding="utf-8"))
    assert t["data"] == {"text": "Great wine, terrible desserts 🍰", "xsent_external_id": "x", "lang": "en"}
    assert t["annotations"] == []
    by_model = {p["model_version"]: p for p in t["predictions"]}
    tagger = by_model["tagger-default"]
    assert tagger["score"] == 0.8  # the least confident span, as the queue orders by
    assert [(r["type"], r["value"]["start"], r["value"]["end"], r["value"]["text"], r["value"]["labels"], r["score"]) for r in tagger["result"]] == [
        ("labels", 6, 10, "wine", ["Good"], 0.9),
        ("labels", 21, 29, "desserts", ["Bad"], 0.8),
    ]
    (choice,) = by_model["classifier-default"]["result"]
    assert choice["type"] == "choices" and choice["value"] == {"choices": ["Bad"]} and choice["score"] == 0.6
    assert all(r["from_name"] in done.labeling_config and r["to_name"] == "text" for p in t["predictions"] for r in p["result"])
    assert '<Label value="Good"' in done.labeling_config and '<Choice value="Mixed"/>' in done.labeling_config


def test_a_bad_record_writes_nothing(tmp_path):
    good = ImportedDocument(text="Nice tea", external_id="t1", versions=(ImportedVersion("alice", "positive", ()),))
    overlapping = ImportedDocument(
        text="good tea",
        external_id="t2",
        versions=(ImportedVersion("bob", None, (AspectSpan(0, 4, "good", "positive"), AspectSpan(2, 8, "od tea", "negative"))),),
    )
    with Store.open(tmp_path / "s.sqlite3") as store:
        with pytest.raises(InputError, match=r"imported document 1 \(t2\).*overlap"):
            store.import_documents([good, overlapping], "test")
        assert store.count_documents() == 0

        def fail(op: str) -> None:
            raise OSError("disk full")

        store._before_commit = fail  # a failure inside the transaction, after the rows were written
        with pytest.raises(Exception, match="disk full"):
            import_labelstudio(store, FIXTURE, parse_label_map(LABELS))
        store._before_commit = None
        assert store.count_documents() == 0 and store.document_bundles() == []


# ----------------------------------------------------------------------------- command lines


def test_store_cli_round_trip_in_three_commands(tmp_path, capsys):
    from db.__main__ import main

    db_path = str(tmp_path / "s.sqlite3")
    out = tmp_path / "tasks.json"
    assert main(["--db", db_path, "import", f"labelstudio:{FIXTURE}", "--label-map", LABELS, "--annotators", "2=bob"]) == 0
    assert "4 documents added" in capsys.readouterr().out
    assert main(["--db", db_path, "export", "--to", "labelstudio", "--out", str(out), "--label-map", LABELS]) == 0
    printed = capsys.readouterr().out
    assert "4 tasks with 6 annotations and 2 predictions" in printed
    assert (tmp_path / "tasks.labeling-config.xml").read_text(encoding="utf-8").startswith("<View>")
    assert main(["--db", str(tmp_path / "fresh.sqlite3"), "import", f"labelstudio:{out}", "--label-map", LABELS]) == 0
    assert "6 annotation versions added" in capsys.readouterr().out
    with Store.open(tmp_path / "fresh.sqlite3") as fresh, Store.open(db_path) as original:
        assert history(fresh) == history(original)
    # an unmapped label: one line on stderr, exit 2, nothing stored
    assert main(["--db", str(tmp_path / "other.sqlite3"), "import", f"labelstudio:{FIXTURE}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "label 'Good' does not map" in err
    with Store.open(tmp_path / "other.sqlite3") as other:
        assert other.count_documents() == 0


def test_store_cli_imports_other_formats_and_exports_jsonl(tmp_path, capsys):
    from db.__main__ import main

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "r1", "text": "Lovely terrace.", "label": "positive"}\n', encoding="utf-8")
    db_path = str(tmp_path / "s.sqlite3")
    assert main(["--db", db_path, "import", f"jsonl:{rows}", "--gold"]) == 0
    assert main(["--db", db_path, "export", "--to", "jsonl", "--out", str(tmp_path / "out.jsonl")]) == 0
    assert json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))["label"] == "positive"
    assert main(["--db", db_path, "import", f"labelstudio:{tmp_path / 'missing.json'}"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_dataset_cli_exports_gold_as_label_studio_annotations_and_reads_them_back(tmp_path):
    from xsent_core.cli import main
    from xsent_core.data import load_examples

    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"id": "r1", "text": "ဒီဆိုင်က ဝန်ဆောင်မှု ဆိုးတယ် 😡", "lang": "my", "spans": [{"start": 9, "end": 20, "polarity": "negative"}]}\n'
        '{"id": "r2", "text": "Cold soup."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "tasks.json"
    assert main(["export", "--data", f"jsonl:{rows}", "--to", "labelstudio", "--out", str(out)]) == 0
    examples = load_examples(f"labelstudio:{out}")
    assert [ex.id for ex in examples] == ["r1", "r2"]
    assert [(s.text, s.polarity) for s in examples[0].spans] == [("ဝန်ဆောင်မှု", "negative")]
    assert examples[0].meta["annotator"] == "gold" and examples[1].spans is None and examples[1].label is None


def test_store_cli_warns_about_broken_bies_by_line(tmp_path, capsys):
    from db.__main__ import main

    conll = tmp_path / "gold.conll"
    conll.write_text("the\tO\nfish\tE-POS\nwas\tO\ngood\tO\n\ntea\tS-POS\n", encoding="utf-8")
    db_path = str(tmp_path / "s.sqlite3")
    assert main(["--db", db_path, "import", f"conll:{conll}", "--gold"]) == 0
    assert "gold.conll: line 2: tags E-POS are not a BIES span; span dropped" in capsys.readouterr().err
    with Store.open(db_path) as store:
        assert [spans_of(e) for e in store.corrected_examples()] == [{("tea", "positive")}]
    assert main(["--db", str(tmp_path / "r.sqlite3"), "import", f"conll:{conll}", "--gold", "--repair-bies"]) == 0
    assert "kept as the repaired span" in capsys.readouterr().err
    with Store.open(tmp_path / "r.sqlite3") as store:
        assert [spans_of(e) for e in store.corrected_examples()] == [{("fish", "positive")}, {("tea", "positive")}]
