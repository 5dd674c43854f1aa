"""Pure helpers behind the tabs: span editing rules, rendering, agreement, exports, figures."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from views import annotation_logic as logic
from views.figures import explain_figures
from views.models import metrics_summary, model_rows
from views.train import job_rows, job_summary, loss_frame, params_from_form, progress_html
from xsent_core.types import AspectSpan, InputError

TEXT = "The fish was fresh but the service was slow."


# --------------------------------------------------------------- span editing


def test_add_span_trims_sorts_and_changes_polarity_of_same_range():
    spans = logic.add_span(TEXT, [], 26, 35, "negative")  # " service " caught with spaces
    assert spans == [{"start": 27, "end": 34, "text": "service", "polarity": "negative"}]
    spans = logic.add_span(TEXT, spans, 4, 8, "positive")
    assert [d["text"] for d in spans] == ["fish", "service"]
    spans = logic.add_span(TEXT, spans, 27, 34, "neutral")
    assert [d["polarity"] for d in spans] == ["positive", "neutral"]


@pytest.mark.parametrize(
    "start,end,pol,message",
    [
        (4, 4, "positive", "empty span"),
        (12, 13, "positive", "empty span"),  # a single space
        (2, 6, "positive", "overlaps"),
        (0, 99, "positive", "outside the text"),
        (None, 3, "positive", "select some text"),
        (0, 3, "great", "choose a polarity"),
    ],
)
def test_bad_spans_are_refused_with_a_reason(start, end, pol, message):
    existing = [{"start": 4, "end": 8, "text": "fish", "polarity": "positive"}]
    with pytest.raises(InputError, match=message):
        logic.add_span(TEXT, existing, start, end, pol)


def test_validate_all_and_remove():
    bad = [{"start": 4, "end": 12, "polarity": "positive"}, {"start": 9, "end": 18, "polarity": "neutral"}, {"start": 30, "end": 30, "polarity": "x"}]
    problems = logic.validate_all(TEXT, bad)
    assert any("overlap" in p for p in problems) and any("empty" in p for p in problems) and any("polarity" in p for p in problems)
    assert logic.remove_span(bad, 4, 12) == bad[1:]


def test_annotator_html_offsets_survive_escaping_and_burmese():
    text = "<b>ဒီဆိုင်က</b> & good"
    spans = [{"start": 3, "end": 11, "polarity": "positive"}]
    page = logic.annotator_html(text, spans, "Document 1")
    inner = re.search(r"<div class='ann-text'[^>]*>(.*?)</div>", page, re.S).group(1)
    plain = re.sub(r"<[^>]+>", "", inner)
    import html as h

    assert h.unescape(plain) == text  # what the browser counts offsets over
    assert "data-start='3' data-end='11'" in page
    assert "No document open" in logic.annotator_html(None, [])


def test_same_annotation_compares_label_and_spans():
    current = SimpleNamespace(label="positive", spans=(AspectSpan(4, 8, "fish", "positive"),))
    spans = [{"start": 4, "end": 8, "text": "fish", "polarity": "positive"}]
    assert logic.same_annotation("positive", spans, current)
    assert not logic.same_annotation("negative", spans, current)
    assert not logic.same_annotation("positive", [], current)
    assert not logic.same_annotation("positive", spans, None)


def _ann(version, annotator, parent, label=None, spans=()):
    return SimpleNamespace(
        version=version, annotator=annotator, parent_version=parent, label=label, spans=tuple(spans),
        created="2026-01-01T00:00:00.000000+00:00", note="",
        stale_parent=(parent or 0) != version - 1, missed_versions=tuple(range((parent or 0) + 1, version)),
    )


def test_history_rows_and_conflict_notice():
    history = [_ann(1, "alice", None, "positive"), _ann(2, "bob", None, "negative")]
    rows = logic.history_rows(history)
    assert rows[0][0] == "v2 (current)" and rows[1][0] == "v1"
    notice = logic.conflict_notice(history[1], history)
    assert "alice saved v1" in notice and "both versions are kept" in notice
    assert logic.conflict_notice(_ann(3, "bob", 2), history) == ""


def test_agreement_rows_kappa_and_span_f1():
    span = AspectSpan(4, 8, "fish", "positive")
    groups = [
        SimpleNamespace(by_annotator={"alice": _ann(1, "alice", None, "positive", [span]), "bob": _ann(2, "bob", 1, "positive", [span])}),
        SimpleNamespace(by_annotator={"alice": _ann(1, "alice", None, "negative"), "bob": _ann(2, "bob", 1, "negative")}),
    ]
    (row,) = logic.agreement_rows(groups)
    assert row[:4] == ["alice", "bob", 2, 2]
    assert row[4] == 1.0 and row[5] == 1 and row[6] == 1.0


# --------------------------------------------------------------- files


def test_export_target_is_confined(tmp_path):
    out = logic.export_target(tmp_path, "jsonl", "../../etc/passwd")
    assert out.parent == tmp_path.resolve() and out.name == "etc-passwd.jsonl"
    assert logic.export_target(tmp_path, "hf", None, now=0).name == "annotations-19700101-000000"
    with pytest.raises(InputError, match="unknown export format"):
        logic.export_target(tmp_path, "exe")


def test_upload_checks(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="upload limit"):
        logic.check_upload(big, 1)
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        logic.check_upload(empty, 1)
    assert logic.guess_format("a.JSONL", "auto") == "jsonl"
    assert logic.guess_format("x.bin", "csv") == "csv"
    with pytest.raises(InputError, match="cannot tell the format"):
        logic.guess_format("x.bin", "auto")


def test_json_uploads_are_told_apart_by_their_keys(tmp_path):
    ls = tmp_path / "project.json"
    ls.write_text('[{"id": 1, "data": {"text": "Nice"}, "annotations": []}]', encoding="utf-8")
    gk = tmp_path / "train.json"
    gk.write_text('[{"text": "ကောင်းတယ်", "label": "5", "bpe": "x"}]', encoding="utf-8")
    assert logic.guess_format(ls.name, "auto", ls) == "labelstudio"
    assert logic.guess_format(gk.name, "auto", gk) == "gklmip"
    assert logic.guess_format(ls.name, "gklmip", ls) == "gklmip"  # a chosen format wins


# --------------------------------------------------------------- train / models


def _job(**kw):
    base = dict(id=3, kind="train_preset", status="running", params={"method": "tagger", "preset": "tagger-tiny"}, progress=0.5,
                message="step 2/4", metrics={}, loss_history=((1, 2.0), (2, 1.5)), created="2026-01-01T00:00:00", updated="x")
    base.update(kw)
    return SimpleNamespace(**base)


def test_train_rendering():
    assert "data-progress='50'" in progress_html(_job())
    assert "no job yet" in progress_html(None)
    frame = loss_frame(_job())
    assert list(frame["step"]) == [1, 2] and list(frame["loss"]) == [2.0, 1.5]
    assert job_rows([_job()])[0][3] == "50 %"
    done = _job(status="succeeded", progress=1.0, metrics={"model": "m1", "heldout": {"data": "d", "rows": 5}})
    text = job_summary(done)
    assert "`m1`" in text and "5 rows" in text and "ℹ" not in text
    noted = job_summary(_job(status="succeeded", metrics={"model": "m1", "notes": ["2 of 9 texts left out <b>"]}))
    assert "ℹ 2 of 9 texts left out &lt;b&gt;" in noted  # the library's notes, shown as text
    assert params_from_form("distill", "tagger", "tagger-tiny", "", "corrected", " 20 ", "", "x")["steps"] == "20"
    assert params_from_form("train_preset", "tagger", "tagger-tiny", "", "corrected", "", "", "")["preset"] == "tagger-tiny"


def test_models_rendering():
    metrics = {"dev": {"f1": 0.5}, "test": {"fr": {"f1": 0.25}}, "after": {"f1": 0.7}, "heldout": {"rows": 3}}
    text = metrics_summary(metrics)
    assert "dev f1=0.500" in text and "fr f1=0.250" in text and "after f1=0.700" in text
    rec = SimpleNamespace(name="a", method="tagger", is_default=True, shipped=True, encoder="e" * 40, data="d", metrics=metrics, created="2026-01-01T00:00:00Z")
    row = model_rows([rec])[0]
    assert row[:4] == ["a", "tagger", "★", "yes"] and len(row[4]) == 24


# --------------------------------------------------------------- inspect figures


def test_each_panel_type_has_its_drawing():
    from xsent_core.methods.panels import Distributions, Matrix, TokenScores, ValueSpread, panel_dict

    t2s = Matrix("Attention teacher → student", ((0.5, 0.5), (0.2, 0.8), (0.1, 0.9)), ("the", "shop", "the"), ("ဒီ", "ဆိုင်"), "teacher", "student")
    data = {"panels": [
        panel_dict(TokenScores("Gate per word", ("ဒီ", "ဆိုင်"), (0.3, 0.8), "gate", ((0, 2), (2, 7)))),
        panel_dict(ValueSpread("Gate per dimension", ("ဒီ", "ဆိုင်"), ((0.1, 0.5), (0.9, 0.7)), "gate")),
        panel_dict(t2s),
        panel_dict(Distributions("Both heads (disagree)", {"head_1": {"negative": 0.2, "positive": 0.8}, "head_2": {"negative": 0.6, "positive": 0.4}})),
        panel_dict(Distributions("Logit parts", {"text": {"negative": -1.5, "positive": 2.0}})),
    ]}
    figs = explain_figures(data)
    assert [title for title, _ in figs] == ["Gate per word", "Gate per dimension", "Attention teacher → student", "Both heads (disagree)", "Logit parts"]
    heat = figs[2][1]
    assert list(heat.layout.yaxis.ticktext) == ["the", "shop", "the"]  # repeated words stay separate rows
    assert list(heat.layout.xaxis.ticktext) == ["ဒီ", "ဆိုင်"]
    assert len(figs[3][1].data) == 2 and tuple(figs[3][1].layout.yaxis.range) == (0, 1)
    assert figs[4][1].layout.yaxis.range is None  # logits are not probabilities: the axis is free
    assert explain_figures({"label": "positive"}) == []  # no panels: nothing to plot


@pytest.mark.parametrize("bad", [
    {"type": "sonogram"}, {"type": "matrix", "title": "m", "values": [[1.0]], "rows": ["a", "b"], "columns": ["x"], "row_label": "r", "column_label": "c"},
    {"type": "token_scores", "title": "t", "tokens": ["a"], "values": [0.1, 0.2], "value_label": "v"},
    {"type": "distributions", "title": "d"},
])
def test_malformed_panels_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError):
        explain_figures({"panels": [bad]})


# --------------------------------------------------------------- alignment exports


def test_alignment_exports_stay_in_the_exports_folder(tmp_path):
    import importlib.util

    import pandas as pd
    import plotly.graph_objects as go

    from views.alignment import concept_text, export_plot, export_table

    services = SimpleNamespace(exports_dir=lambda: tmp_path)
    table = pd.DataFrame({"english": ["democracy"], "burmese": ["ဒီမိုကရေစီ"], "cosine_distance_before": [0.12]})
    csv = export_table(services, table)
    assert csv.parent == tmp_path and "ဒီမိုကရေစီ" in csv.read_text(encoding="utf-8")
    html_file = export_plot(services, go.Figure(go.Scatter(x=[0], y=[1])), "html")
    assert html_file.parent == tmp_path and "plotly" in html_file.read_text(encoding="utf-8")[:100_000].lower()
    if importlib.util.find_spec("kaleido") is None:
        with pytest.raises(InputError, match="kaleido"):
            export_plot(services, go.Figure(), "png")
    with pytest.raises(InputError, match="draw the alignment first"):
        export_table(services, None)
    assert concept_text().splitlines()[0] == "democracy\tဒီမိုကရေစီ"


def test_alignment_csv_cannot_carry_spreadsheet_formulas(tmp_path):
    import csv as csvlib

    import pandas as pd

    from views.alignment import export_table

    attacks = ["=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\",\"y\")", "@SUM(1+1)", "+1+1", "-2+3", "\t=1", "democracy"]
    table = pd.DataFrame({"english": attacks, "burmese": ["ဒီမိုကရေစီ"] * len(attacks), "cosine_distance_before": [-0.25] * len(attacks)})
    out = export_table(SimpleNamespace(exports_dir=lambda: tmp_path), table)
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csvlib.reader(f))
    cells = [r[0] for r in rows[1:]]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    assert cells[0] == "'=cmd|' /C calc'!A0" and cells[-1] == "democracy"
    assert {r[2] for r in rows[1:]} == {"-0.25"}  # numbers stay numbers


def test_job_heldout_sample_is_stratified():
    from xsent_core.jobs import sample_rows
    from xsent_core.types import Example

    rows = [Example(id=str(i), text="t", label="positive") for i in range(90)] + [Example(id=f"n{i}", text="t", label="negative") for i in range(30)]
    picked = sample_rows(rows, 40)
    assert len(picked) == 40
    assert {r.label for r in picked} == {"positive", "negative"}
    assert sample_rows(rows[:5], 40) == rows[:5]


def test_predict_falls_back_to_the_shipped_model_when_no_default_is_set(tmp_path):
    from db.records import ModelRecord
    from db.store import Store
    from views.services import AppSettings, ModelProvider

    with Store.open(tmp_path / "s.sqlite3") as store:
        store.register_model(ModelRecord("tagger-default", "tagger", "assets/models/tagger", shipped=True))
        store.register_model(ModelRecord("mine", "tagger", "runs/1", is_default=True))
        # a store left without a default (deleted by an older xsent): the shipped model answers
        store._write("t", lambda db: db.execute("UPDATE models SET is_default = 0"))
        provider = ModelProvider(store, AppSettings(db_path=tmp_path / "s.sqlite3"))
        assert store.default_model("tagger") is None
        assert provider.resolve("tagger").name == "tagger-default"
        with pytest.raises(Exception, match="no trained 'm2sa' model"):
            provider.resolve("m2sa")


def test_predict_with_a_lone_surrogate_still_answers_and_says_it_was_not_saved(tmp_path):
    from db.store import Store
    from views.prediction_log import PredictionLog
    from views.predict import predict_one
    from xsent_core.types import Prediction

    class Model:
        def predict(self, examples):
            return [Prediction(label="positive", probs={"negative": 0.1, "neutral": 0.2, "positive": 0.7}) for _ in examples]

    with Store.open(tmp_path / "s.sqlite3") as store:
        record = SimpleNamespace(name="classifier-default", created="")
        log = PredictionLog(store)
        services = SimpleNamespace(store=store, models=SimpleNamespace(get=lambda method, name: (record, Model())), predictions=log)
        _, prediction, notes = predict_one(services, "good \ud800 food", None, "classifier")
        assert prediction.label == "positive"
        assert "not saved to the store" in notes and "lone surrogate at character 5" in notes
        log.drain()
        assert store.count_documents() == 0
        _, _, notes = predict_one(services, "good food", None, "classifier")
        log.close()  # writes what is queued
        assert notes == "" and store.count_documents() == 1


def test_predicting_the_same_sentence_again_adds_a_prediction_not_a_document(tmp_path):
    from db.store import Store
    from views.prediction_log import PredictionLog
    from views.predict import predict_one
    from xsent_core.types import Prediction

    class Model:
        def predict(self, examples):
            return [Prediction(label="negative") for _ in examples]

    from xsent_core.registry import method_specs

    with Store.open(tmp_path / "s.sqlite3") as store:
        log = PredictionLog(store)
        services = SimpleNamespace(
            store=store, models=SimpleNamespace(get=lambda m, n: (SimpleNamespace(name="c", created=""), Model())),
            predictions=log, method_specs=lambda: {s.name: s for s in method_specs()},
        )
        for _ in range(5):
            predict_one(services, "the service was slow", None, "classifier")
        predict_one(services, "the service was slow ", None, "classifier")  # another text
        image = tmp_path / "a.png"
        try:
            predict_one(services, "the service was slow", str(image), "m2sa")  # same text with an image
        finally:
            log.drain()  # the writer thread must not outlive the store it writes to
        assert store.count_documents() == 3
        (doc,) = [d for d in store.list_documents() if d.text == "the service was slow" and not d.image]
        rows = store._db().execute("SELECT COUNT(*) FROM predictions WHERE document_id = ?", [doc.id]).fetchone()[0]
        assert rows == 5


def test_upload_errors_name_the_file_not_the_server_folder(tmp_path):
    upload = tmp_path / "gradio" / "3f9a0c" / "reviews.jsonl"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b'{"id": "x", "text": "\xff"}\n')
    from xsent_core.data import load_examples

    with pytest.raises(InputError) as err:
        load_examples(f"jsonl:{upload}")
    shown = logic.upload_error(err.value, upload)
    assert shown.startswith("reviews.jsonl: line 1") and str(tmp_path) not in shown and "3f9a0c" not in shown


def test_bies_notes_list_the_first_warnings():
    from xsent_core.types import Example

    rows = [Example(id=str(i), text="x", meta={"bies_warnings": [f"f.conll: line {i}: broken"]}) for i in range(7)]
    notes = logic.bies_notes(rows, shown=5)
    assert "7 span(s) with broken BIES tags" in notes and "line 4: broken" in notes and "line 5" not in notes
    assert "and 2 more" in notes
    assert logic.bies_notes([Example(id="a", text="x")]) == ""


def test_batch_rows_cannot_reach_server_files(tmp_path):
    import json

    from views.predict import open_batch
    from xsent_core.types import Prediction

    upload = tmp_path / "upload" / "abc123"
    upload.mkdir(parents=True)
    (upload / "cat.jpg").write_bytes(b"fake image bytes")
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"not yours")
    rows = [
        {"id": "1", "text": "a", "image": "/etc/passwd"},
        {"id": "2", "text": "b", "image": "../../../../etc/shadow"},
        {"id": "3", "text": "c", "image": "never-uploaded.jpg"},
        {"id": "4", "text": "d", "image": str(outside)},
        {"id": "5", "text": "e", "image": "cat.jpg"},
        {"id": "6", "text": "f"},
    ]
    batch = upload / "batch.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    seen = []

    class Model:
        def predict(self, examples):
            seen.extend(ex.image for ex in examples)
            return [Prediction(label="positive") for _ in examples]

    settings = SimpleNamespace(max_upload_mb=5, max_batch_rows=100, work_dir=tmp_path / "work")
    services = SimpleNamespace(settings=settings, models=SimpleNamespace(get=lambda m, n: (SimpleNamespace(name="m2sa-default"), Model())))
    out = [row for part in open_batch(services, batch, "m2sa", None).rows() for row in part]
    errors = [r.get("error") for r in out]
    assert errors[:4] == [logic.IMAGE_REFUSED] * 4  # one answer, whether the file exists or not
    assert errors[4:] == [None, None] and [r["label"] for r in out[4:]] == ["positive", "positive"]
    assert seen == [str((upload / "cat.jpg").resolve()), None]  # the model never saw a refused path


def test_heldout_summary_names_a_real_path_not_the_placeholder(shared_data):
    from xsent_core.jobs import hold_out, metrics_block

    block = metrics_block({}, {}, "gklmip:{data}/gklmip_myanmar_sentiment/dev.json", 64, None)
    assert "{data}" not in block["heldout"]["data"] and block["heldout"]["data"].endswith("gklmip_myanmar_sentiment/dev.json")
    rows, heldout, described = hold_out([], [], "rethink", "corrected")
    assert heldout and "{data}" not in described and str(shared_data) in described


@pytest.mark.parametrize("fmt, good, bad", [
    ("semeval", "The\tO\tNULL\nfish\tT-POS\tFOOD#QUALITY\n\n", "broken line without tabs\n"),
    ("conll", "The\tO\nfish\tS-POS\n\n", "too\tmany\tcolumns\n"),
    ("jsonl", '{"text": "the fish"}\n', "{not json\n"),
    ("csv", None, "too,many,cells\n"),
])
def test_row_limit_is_checked_while_streaming_before_the_rest_is_parsed(tmp_path, fmt, good, bad):
    """A file over the row limit is refused having read only limit + 1 rows: what follows is never parsed."""
    from xsent_core.data import iter_examples

    limit = 50
    path = tmp_path / f"gold-en-test.{ {'semeval': 'txt'}.get(fmt, fmt) }"
    body = "text\n" + "the fish\n" * (limit + 1) if fmt == "csv" else good * (limit + 1)
    path.write_text(body + bad, encoding="utf-8")
    with pytest.raises(InputError, match=f"more than {limit} rows"):
        logic.take_rows(iter_examples(f"{fmt}:{path}"), limit, path.name)
    # under the limit the same file is parsed to the end, and its broken tail is reported
    with pytest.raises(InputError, match="line"):
        logic.take_rows(iter_examples(f"{fmt}:{path}"), limit + 10, path.name)


def test_batch_predict_refuses_a_file_over_the_row_limit_without_reading_on(tmp_path):
    from views.predict import open_batch

    upload = tmp_path / "upload"
    upload.mkdir()
    batch = upload / "big.jsonl"
    batch.write_text('{"text": "ok"}\n' * 11 + "{broken\n", encoding="utf-8")
    settings = SimpleNamespace(max_upload_mb=5, max_batch_rows=10, work_dir=tmp_path / "work")
    services = SimpleNamespace(settings=settings, models=SimpleNamespace(get=lambda m, n: (SimpleNamespace(name="x"), None)))
    with pytest.raises(InputError, match="big.jsonl has more than 10 rows"):
        open_batch(services, batch, "tagger", None)


def _hundred_row_batch(tmp_path):
    """A 100-row JSONL upload and services whose model records every row it predicts."""
    import json

    from xsent_core.types import Prediction

    batch = tmp_path / "rows.jsonl"
    batch.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(100)), encoding="utf-8")
    predicted = []

    class Model:
        def predict(self, examples):
            predicted.extend(examples)
            return [Prediction(label="neutral") for _ in examples]

    settings = SimpleNamespace(max_upload_mb=5, max_batch_rows=1000, work_dir=tmp_path / "work")
    services = SimpleNamespace(settings=settings, models=SimpleNamespace(get=lambda m, n: (SimpleNamespace(name="c"), Model())))
    return batch, services, predicted


def test_batch_predict_reports_progress_and_a_cancelled_batch_writes_nothing(tmp_path):
    """Each chunk yields a progress update; closing the generator (a closed connection) stops predicting."""
    from views.predict import batch_updates

    batch, services, predicted = _hundred_row_batch(tmp_path)
    updates = batch_updates(services, str(batch), "classifier", None)
    assert "Predicted 32 of 100 rows" in next(updates)[0]
    assert "Predicted 64 of 100 rows" in next(updates)[0]
    updates.close()  # what Gradio does when the page goes away between chunks
    assert len(predicted) == 64 and not (tmp_path / "work" / "exports").exists()

    *progress, (final, table, out) = list(batch_updates(services, str(batch), "classifier", None))
    assert len(progress) == 4 and final.startswith("Predicted 100 rows") and len(table) == 100
    assert sum(1 for _ in open(out, encoding="utf-8")) == 100


def test_a_cancel_flag_stops_the_batch_after_its_chunk_and_the_last_message_says_so(tmp_path):
    """The Cancel button sets a flag; the batch itself writes the last status, so no late progress hides it."""
    from views.cancel_flags import CancelFlags
    from views.predict import batch_updates

    batch, services, predicted = _hundred_row_batch(tmp_path)
    flags = CancelFlags()
    flag = flags.begin("session-a")
    assert not flags.cancel("session-b")  # another session's Cancel touches nothing
    updates = batch_updates(services, str(batch), "classifier", None, cancelled=flag.is_set)
    assert "Predicted 32 of 100 rows" in next(updates)[0]
    assert flags.cancel("session-a")
    status, table, out = next(updates)
    assert status.startswith("⏹ Cancelled after 32 of 100 rows") and table is None and out is None
    assert list(updates) == [] and len(predicted) == 32 and not (tmp_path / "work" / "exports").exists()
    flags.end("session-a", flag)
    assert not flags.cancel("session-a")
    # a Cancel that lands while the last chunk runs changes nothing: every row is done, so the file is written
    last_chunk_done = lambda: len(predicted) == 32 + 100  # noqa: E731
    *_, (final, table, out) = batch_updates(services, str(batch), "classifier", None, cancelled=last_chunk_done)
    assert final.startswith("Predicted 100 rows") and out is not None


TEXT = "The fish was fresh but the service was slow."


@pytest.mark.parametrize("data", [
    None, "add", 42, [], ["add", 1, 2], {}, {"action": None}, {"action": "drop table"},
    {"action": "add"}, {"action": "add", "start": "x", "end": 8, "polarity": "positive"},
    {"action": "add", "start": 4, "end": 8, "polarity": "furious"},
    {"action": "add", "start": 4, "end": 10**30, "polarity": "positive"},
    {"action": "add", "start": float("inf"), "end": 8, "polarity": "positive"},
    {"action": "add", "start": float("nan"), "end": 8, "polarity": "positive"},
    {"action": "add", "start": [4], "end": {"e": 8}, "polarity": ["positive"]},
    {"action": "add", "start": -5, "end": 3, "polarity": "negative"},
    {"action": "remove"}, {"action": "remove", "start": "four", "end": 8},
    {"action": "remove", "start": float("inf"), "end": 1}, {"action": "remove", "start": None, "end": None},
])
def test_hand_crafted_span_actions_get_a_message_and_keep_the_spans(data):
    before = [{"start": 4, "end": 8, "text": "fish", "polarity": "positive"}]
    done = logic.span_action(TEXT, before, data)
    assert done.spans == before and done.message.startswith("✗ ") and done.part == "same"


def test_span_actions_add_remove_and_move_through_parts():
    added = logic.span_action(TEXT, [], {"action": "add", "start": 27, "end": 34, "polarity": "negative"})
    assert added.message == "" and added.spans == [{"start": 27, "end": 34, "text": "service", "polarity": "negative"}]
    removed = logic.span_action(TEXT, added.spans, {"action": "remove", "start": "27", "end": 34})
    assert removed.spans == [] and removed.message == ""
    assert logic.span_action(TEXT, added.spans, {"action": "show_all"}).part is None
    long = "x" * 50_000
    assert logic.span_action(long, [], {"action": "part", "start": 25_000}).part == 20_000
    assert logic.span_action(long, [], {"action": "part", "start": -3}).part == 0
    assert logic.span_action(long, [], {"action": "part", "start": 10**12}).part == 40_000
    assert logic.span_action(long, [], {"action": "part", "start": "x"}).message.startswith("✗")
    too_long = logic.span_action("x" * (logic.SHOW_ALL_MAX + 1), [], {"action": "show_all"})
    assert too_long.part == "same" and "too many to show at once" in too_long.message


def shown_text(page: str) -> tuple[int, str]:
    body = page.split("<div class='ann-text' lang='und' data-base='")[1]
    base, rest = body.split("'>", 1)
    return int(base), re.sub(r"<[^>]+>", "", rest.split("</div>")[0])


def test_long_documents_open_in_parts_with_offsets_of_the_whole_text():
    text = "good soup. " * 10_000  # 110,000 characters
    spans = [{"start": 0, "end": 4, "polarity": "positive"}, {"start": 19_998, "end": 20_004, "polarity": "neutral"},
             {"start": 50_000, "end": 50_004, "polarity": "negative"}]
    first = logic.annotator_html(text, spans, part=0)
    assert len(first) < 25_000 and "Characters 0–20,000 of 110,000" in first and "1 span(s) in other parts" in first
    assert "annotate-part-next" in first and "annotate-part-prev" not in first
    assert "annotate-show-all" not in first  # 110,000 > SHOW_ALL_MAX: parts only
    assert "data-start='19998' data-end='20004'" in first  # a mark across the edge keeps its offsets
    assert shown_text(first) == (0, text[:20_000])
    third = logic.annotator_html(text, spans, part=45_000)
    assert shown_text(third) == (40_000, text[40_000:60_000]) and "data-start='50000'" in third
    assert "data-part='20000'" in third and "data-part='60000'" in third
    second = logic.annotator_html(text, spans, part=20_000)
    assert shown_text(second) == (20_000, text[20_000:40_000]) and "data-start='19998'" in second  # the edge mark's other piece
    whole = logic.annotator_html(text, spans, part=None)
    assert "ann-more" not in whole and shown_text(whole) == (0, text)
    assert "annotate-show-all" in logic.annotator_html(text[:30_000], [], part=0)
    assert "ann-more" not in logic.annotator_html("short text", [], part=0)
    assert len(logic.span_rows([{"start": 0, "end": 5000, "text": "x" * 5000, "polarity": "positive"}])[0][3]) == logic.CELL_CHARS


def test_smoke_presets_are_offered_last_and_marked():
    from views.train import preset_about, preset_choices
    from xsent_core.registry import presets

    for method in ("tagger", "msmo", "lfdrt"):
        choices, chosen = preset_choices(presets(method))
        assert not presets(method)[chosen].smoke
        smoke = [name for label, name in choices if "smoke test" in label]
        assert smoke and all(presets(method)[n].smoke for n in smoke) and [n for _, n in choices][-len(smoke):] == smoke
    assert "not a model to use" in preset_about(presets("tagger")["tagger-tiny"])
    assert "not a model to use" not in preset_about(presets("tagger")["tagger-builtin"])


def test_answers_lose_lone_surrogates_and_keep_everything_else():
    import plotly.graph_objects as go

    from views.blocks import REPLACEMENT, without_surrogates

    update = {"__type__": "update", "value": "bad \ud800 text", "choices": [("a\udfff", "a")]}
    clean = without_surrogates(update)
    assert clean == {"__type__": "update", "value": f"bad {REPLACEMENT} text", "choices": [(f"a{REPLACEMENT}", "a")]}
    fine = {"value": "ok", "n": 3, "nested": [1, ("x", None)]}
    assert without_surrogates(fine) is fine  # nothing to change: the same object
    assert without_surrogates(("t\ud83d", 1)) == (f"t{REPLACEMENT}", 1)
    fig = go.Figure(go.Heatmap(z=[[1]], x=["tok\ud800"], y=["y"]))
    assert list(without_surrogates(fig).to_dict()["data"][0]["x"]) == [f"tok{REPLACEMENT}"]
    import json

    json.dumps(clean, ensure_ascii=False).encode("utf-8")  # encodable now


def test_event_data_is_read_whatever_the_client_sent():
    from views.event_data import selected_row, selected_row_value

    def event(data):
        return SimpleNamespace(_data=data)

    assert selected_row(event({"index": [3, 1]})) == 3 and selected_row(event({"index": 2})) == 2
    for bad in (None, {}, {"index": None}, {"index": []}, {"index": ["0", 1]}, {"index": -1}, {"index": True}, "x"):
        assert selected_row(event(bad)) is None
    assert selected_row_value(event({"row_value": ["m", 1]})) == ["m", 1]
    assert selected_row_value(event({"row_value": "garbage"})) is None


def test_prediction_log_writes_after_the_reply_keeps_order_and_logs_a_failed_write(tmp_path, caplog):
    import threading

    from db.store import Store
    from views.prediction_log import PredictionLog
    from xsent_core.types import Example, Prediction

    with Store.open(tmp_path / "s.sqlite3") as store:
        release = threading.Event()
        real_add = store.add_documents

        def slow_add(*args, **kwargs):  # the worker waits; the caller must not
            release.wait(10)
            return real_add(*args, **kwargs)

        store.add_documents = slow_add
        log = PredictionLog(store)
        example = Example(id="sha256:x", text="the soup was cold")
        futures = [log.submit(example, "c", "", "classifier", Prediction(label="negative")) for _ in range(3)]
        assert not any(f.done() for f in futures) and store.count_documents() == 0
        release.set()
        log.drain(timeout=10)
        assert store.count_documents() == 1  # in order: the second write found the first document
        assert store._db().execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 3

        store.add_documents = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk gone"))
        with caplog.at_level("ERROR", logger="xsent.predictions"):
            log.submit(example, "c", "", "classifier", Prediction(label="negative"))
            log.close()
        assert "prediction not saved to the store" in caplog.text
