from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from xsent_core.data import (
    iter_csv,
    iter_jsonl,
    load_examples,
    read_conll,
    read_gklmip,
    read_jsonl,
    read_semeval,
    sentence_level,
    stratified_split,
    write_conll,
    write_jsonl,
)
from xsent_core.data.semeval import infer_lang
from xsent_core.types import AspectSpan, Example, InputError

POS, NEU, NEG = "positive", "neutral", "negative"

SEMEVAL_SAMPLE = (
    "The\tO\tNIL\nfood\tT-NEG\tFOOD#QUALITY\nwas\tO\tNIL\ncold\tO\tNIL\n\n"
    "Great\tO\tNIL\nJazz\tT-POS\tX\nBar\tT-POS\tX\nand\tO\tNIL\nstaff\tT-POS\tY\n\n"
    "Nothing\tO\tNIL\nhere\tO\tNIL\n\n"
    "Good\tO\tNIL\nwine\tS-POS\tNONE-CATE\n,\tO\tNIL\nbad\tO\tNIL\nfish\tB-NEG\tNONE-CATE\nsoup\tE-NEG\tNONE-CATE\n"
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def check_example_consistency(ex: Example) -> None:
    if ex.tokens is not None:
        assert ex.text == " ".join(ex.tokens)
        assert all(ex.text[s:e] == t for t, (s, e) in zip(ex.tokens, ex.token_offsets))
    for span in ex.spans or ():
        assert ex.text[span.start:span.end] == span.text


# --- SemEval ---------------------------------------------------------------------------


def test_read_semeval_sample(tmp_path):
    exs = read_semeval(write(tmp_path / "gold-fr-test.txt", SEMEVAL_SAMPLE))
    assert [e.id for e in exs] == [f"gold-fr-test:{i}" for i in range(4)]
    assert {e.lang for e in exs} == {"fr"}
    for e in exs:
        check_example_consistency(e)
    a, b, c, d = exs
    assert a.text == "The food was cold"
    assert a.token_offsets == ((0, 3), (4, 8), (9, 12), (13, 17))
    assert a.spans == (AspectSpan(4, 8, "food", NEG),) and a.label == NEG
    assert a.meta["categories"] == ("FOOD#QUALITY",) and a.meta["line"] == 1
    assert [(s.text, s.polarity) for s in b.spans] == [("Jazz Bar", POS), ("staff", POS)]
    assert b.label == POS and b.meta["line"] == 6
    assert c.spans == () and c.label is None  # no aspect: kept, unlabelled
    assert [(s.text, s.polarity) for s in d.spans] == [("wine", POS), ("fish soup", NEG)]
    assert d.label is None  # mixed
    assert [e.id for e in sentence_level(exs)] == ["gold-fr-test:0", "gold-fr-test:1"]


def test_read_semeval_crlf_bom_and_blank_runs(tmp_path):
    content = "\ufeff" + SEMEVAL_SAMPLE.replace("\n", "\r\n") + "\r\n\r\n  \r\n"
    exs = read_semeval(write(tmp_path / "x.txt", content))
    assert [e.text for e in exs] == [e.text for e in read_semeval(write(tmp_path / "y.txt", SEMEVAL_SAMPLE))]
    assert exs[0].tokens[0] == "The"


@pytest.mark.parametrize(
    "name, lang, meta",
    [
        ("gold-fr-test.txt", "fr", {}),
        ("smt-es-train.txt", "es", {}),
        ("cs_en-fr-train.txt", "fr", {"langs": ("en", "fr"), "term_lang": "en"}),
        ("cs_fr-en-train.txt", "en", {"langs": ("fr", "en"), "term_lang": "fr"}),
        ("reviews.txt", None, {}),
    ],
)
def test_lang_inference(tmp_path, name, lang, meta):
    assert infer_lang(name) == (lang, meta)
    ex = read_semeval(write(tmp_path / name, SEMEVAL_SAMPLE))[0]
    assert ex.lang == lang
    for k, v in meta.items():
        assert ex.meta[k] == v
    assert read_semeval(tmp_path / name, lang="nl")[0].lang == "nl"


@pytest.mark.parametrize(
    "content, needle",
    [
        ("a\tO\tNIL\nb\tO\n", "line 2: expected 3"),
        ("a\tO\tNIL\n\nb\tO\tNIL\textra\n", "line 3: expected 3"),
        ("a\tO\tNIL\nb\tT-BAD\tNIL\n", "line 2: unknown tag"),
        ("a\tO\tNIL\n\tO\tNIL\n", "line 2: empty token"),
        ("food O NIL\n", "line 1: expected 3"),
    ],
)
def test_read_semeval_malformed(tmp_path, content, needle):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(InputError) as err:
        read_semeval(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_read_semeval_invalid_utf8(tmp_path):
    path = write(tmp_path / "bad.txt", b"a\tO\tNIL\n\nb\xff\tO\tNIL\n")
    with pytest.raises(InputError, match=r"line 3: invalid UTF-8 at byte 10") as err:
        read_semeval(path)
    assert str(path) in str(err.value)


def test_read_semeval_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_semeval(tmp_path / "nope.txt")


def test_real_semeval_counts(shared_data):
    folder = shared_data / "semeval16_restaurants"
    exs = read_semeval(folder / "gold-en-train.txt")
    assert len(exs) == 1600 and len(sentence_level(exs)) == 918
    assert Counter(e.label for e in sentence_level(exs)) == {POS: 647, NEG: 235, NEU: 36}
    assert sum(bool(e.spans) and e.label is None for e in exs) == 67  # mixed
    for e in exs[:200]:
        check_example_consistency(e)
    # the code-switched file ends with BIES-tagged English sentences
    cs = read_semeval(folder / "cs_es-en-train.txt")
    assert len(cs) == 1600 and cs[-1].lang == "en" and cs[0].meta["term_lang"] == "es"
    assert cs[0].spans[0].text == "comida"
    tail = [e for e in cs if e.meta["line"] > 24840]
    assert any(len(s.text.split()) == 3 for e in tail for s in e.spans)  # "Thin Crust Pizzas"


# --- GKLMIP ----------------------------------------------------------------------------


def gk_rows(labels):
    return json.dumps([{"text": f"စာ {i}", "label": lab, "bpe": ["x"]} for i, lab in enumerate(labels)])


def test_read_gklmip_mapping(tmp_path):
    exs = read_gklmip(write(tmp_path / "train.json", gk_rows(["1", "2", "3", "4", "5", 5])))
    assert [e.label for e in exs] == [NEG, NEG, NEU, NEU, POS, POS]
    assert [e.meta["stars"] for e in exs] == [1, 2, 3, 4, 5, 5]
    assert {e.lang for e in exs} == {"my"} and exs[2].id == "train:2"
    assert all(e.text.startswith("စာ") for e in exs)


def test_read_gklmip_normalize(tmp_path):
    path = write(tmp_path / "d.json", json.dumps([{"text": "a\u200bb", "label": "5"}, {"text": "ab", "label": "1"}]))
    exs = read_gklmip(path, normalize=lambda s: s.replace("\u200b", ""))
    assert [e.text for e in exs] == ["ab", "ab"]
    assert exs[0].meta["raw_text"] == "a\u200bb" and "raw_text" not in exs[1].meta

    def boom(s):
        raise RuntimeError("bad converter")

    with pytest.raises(InputError, match="row 0: normalisation failed: bad converter"):
        read_gklmip(path, normalize=boom)
    with pytest.raises(InputError, match="row 0: normalisation returned"):
        read_gklmip(path, normalize=lambda s: None)


@pytest.mark.parametrize(
    "content, needle",
    [
        (gk_rows(["5", "0"]), "row 1: label"),
        (gk_rows(["5", "6"]), "row 1: label"),
        (gk_rows(["5", True]), "row 1: label"),
        (gk_rows(["5", 4.0]), "row 1: label"),
        ('[{"text": "a", "label": "5"}, {"label": "5"}]', "row 1: missing"),
        ('[{"text": "", "label": "5"}]', "row 0: 'text'"),
        ('[{"text": 3, "label": "5"}]', "row 0: 'text'"),
        ('[["a", "5"]]', "row 0: expected an object"),
        ('{"text": "a"}', "expected a JSON array"),
        ('[{"text": "a", "label": "5"},\n oops]', "line 2 column"),
        ('[{"text": "\\ud800", "label": "5"}]', "row 0: invalid Unicode"),
    ],
)
def test_read_gklmip_errors(tmp_path, content, needle):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(InputError) as err:
        read_gklmip(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_real_gklmip(shared_data):
    folder = shared_data / "gklmip_myanmar_sentiment"
    train = read_gklmip(folder / "train.json")
    dev = read_gklmip(folder / "dev.json")
    assert Counter(e.label for e in train) == {POS: 1969, NEU: 282, NEG: 241}
    assert Counter(e.label for e in dev) == {POS: 282, NEU: 41, NEG: 35}
    assert Counter(e.meta["stars"] for e in train)[1] == 168


# --- splits ----------------------------------------------------------------------------


def labelled(counts):
    return [Example(id=f"{lab}{i}", text="t", label=lab) for lab, n in counts.items() for i in range(n)]


def test_stratified_split():
    exs = labelled({POS: 50, NEU: 10, NEG: 3})
    a, b = stratified_split(exs, 0.8, seed=1)
    assert sorted(e.id for e in a + b) == sorted(e.id for e in exs)
    assert not {e.id for e in a} & {e.id for e in b}
    assert Counter(e.label for e in a) == {POS: 40, NEU: 8, NEG: 2}  # 2.4 -> 2
    assert [e.id for e in a] == [e.id for e in exs if e in a]  # input order kept
    assert stratified_split(exs, 0.8, seed=1) == (a, b)
    assert stratified_split(exs, 0.8, seed=2) != (a, b)


def test_stratified_split_edges():
    exs = labelled({POS: 2, NEU: 1})
    a, b = stratified_split(exs, 0.99, seed=0)
    assert Counter(e.label for e in a) == {POS: 1, NEU: 1}  # a class of 2 keeps one in b
    assert stratified_split(exs, 1.0, seed=0) == (exs, [])
    assert stratified_split(exs, 0.0, seed=0) == ([], exs)
    assert stratified_split([], 0.5, seed=0) == ([], [])
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            stratified_split(exs, bad, seed=0)
    # None is a class of its own; a custom key works
    mixed = exs + [Example(id="u", text="t")]
    a, b = stratified_split(mixed, 0.5, seed=0, key=lambda e: e.label)
    assert len(a) + len(b) == 4


# --- JSONL -----------------------------------------------------------------------------


def test_iter_jsonl_fields(tmp_path):
    rows = [
        {"id": "r1", "text": "good food", "lang": "en", "label": "Positive ",
         "spans": [{"start": 5, "end": 9, "polarity": "positive", "text": "food"}], "extra": [1]},
        {"text": "ဈေးကြီးတယ်", "image": "imgs/a.jpg"},
        {"id": 7, "text": "", "image": "/abs/b.png", "spans": []},
        {"text": "x y", "image": "https://e.org/i.png", "spans": [[0, 1, "neutral"]], "label": None},
    ]
    content = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:2]) + "\n\n   \n"
    content += "\r\n".join(json.dumps(r) for r in rows[2:]) + "\n"
    path = write(tmp_path / "sub" / "in.jsonl", content)
    it = iter_jsonl(path)
    assert iter(it) is it  # streaming
    a, b, c, d = list(it)
    assert (a.id, a.lang, a.label) == ("r1", "en", POS)
    assert a.spans == (AspectSpan(5, 9, "food", POS),)
    assert a.meta["extra"] == [1] and a.meta["line"] == 1
    assert b.id == "in:2" and b.label is None and b.spans is None and b.lang is None
    assert b.image == os.path.normpath(tmp_path.resolve() / "sub" / "imgs" / "a.jpg")
    assert c.id == "7" and c.text == "" and c.image == "/abs/b.png" and c.spans == ()
    assert d.id == "in:6" and d.image == "https://e.org/i.png"
    assert d.spans == (AspectSpan(0, 1, "x", NEU),)


@pytest.mark.parametrize(
    "line, needle",
    [
        ('{"text": "a"', "invalid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"label": "positive"}', "missing 'text'"),
        ('{"text": 5}', "'text' must be a string"),
        ('{"text": "  "}', "empty 'text'"),
        ('{"text": "a", "label": "great"}', "label must be one of"),
        ('{"text": "a", "label": 2}', "label must be one of"),
        ('{"text": "a", "id": 1.5}', "'id' must be"),
        ('{"text": "a", "lang": 3}', "'lang' must be a string"),
        ('{"text": "a", "image": ["x"]}', "'image' must be a string"),
        ('{"text": "ab", "spans": {"start": 0}}', "'spans' must be a list"),
        ('{"text": "ab", "spans": [{"start": 0, "end": 3, "polarity": "positive"}]}', "spans[0]: offsets"),
        ('{"text": "ab", "spans": [{"start": 1, "end": 1, "polarity": "positive"}]}', "spans[0]: offsets"),
        ('{"text": "ab", "spans": [{"start": true, "end": 1, "polarity": "positive"}]}', "integer"),
        ('{"text": "ab", "spans": [{"start": 0, "end": 1, "polarity": "good"}]}', "polarity must be"),
        ('{"text": "ab", "spans": [{"start": 0, "end": 1, "polarity": "positive", "text": "b"}]}', "does not match"),
        ('{"text": "ab", "spans": [{"start": 0, "end": 1}]}', "needs 'start'"),
        ('{"text": "ab", "spans": [[0, 1]]}', "expected an object"),
        ('{"text": "ab", "spans": [[0, 1, "positive"]], "x": 1, "score": 1}', None),
        ('{"text": "ab", "spans": [{"start": 0, "end": 1, "polarity": "positive", "score": NaN}]}', "score"),
        ('{"text": "a\\ud800b"}', "invalid Unicode"),
        ('{"text": "a", "meta": {"k": "\\udfff"}}', "invalid Unicode"),
    ],
)
def test_iter_jsonl_errors(tmp_path, line, needle):
    path = write(tmp_path / "bad.jsonl", '{"text": "fine"}\n\n' + line + "\n")
    if needle is None:
        assert len(read_jsonl(path)) == 2
        return
    it = iter_jsonl(path)
    assert next(it).text == "fine"  # rows before the bad line come out first
    with pytest.raises(InputError) as err:
        next(it)
    assert needle in str(err.value) and f"{path}: line 3" in str(err.value)


def test_iter_jsonl_invalid_utf8_and_missing(tmp_path):
    path = write(tmp_path / "bad.jsonl", b'{"text": "ok"}\n{"text": "\xc3("}\n')
    with pytest.raises(InputError, match=r"line 2: invalid UTF-8 at byte 25"):
        read_jsonl(path)
    with pytest.raises(InputError, match="not found"):
        read_jsonl(tmp_path / "none.jsonl")


def test_write_jsonl_round_trip_and_atomic(tmp_path):
    exs = [
        Example(id="a", text="ok ဈေး", lang="my", label=NEG, spans=(AspectSpan(0, 2, "ok", NEG, 0.5),)),
        Example(id="b", text="x"),
    ]
    path = tmp_path / "out" / "o.jsonl"
    assert write_jsonl(path, exs) == 2
    assert "ဈေး" in path.read_text(encoding="utf-8")
    back = read_jsonl(path)
    assert [(e.id, e.text, e.lang, e.label, e.spans) for e in back] == [
        (e.id, e.text, e.lang, e.label, e.spans) for e in exs
    ]

    def rows():
        yield {"id": "new"}
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert len(read_jsonl(path)) == 2  # old file untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["o.jsonl"]  # no temp left
    assert write_jsonl(path, [{"text": "plain dict"}]) == 1
    assert read_jsonl(path)[0].text == "plain dict"


# --- CSV -------------------------------------------------------------------------------


def test_iter_csv(tmp_path):
    content = (
        "\ufeffID,Text,label,image,source\n"
        'r1,"good, really",positive,a.png,web\n'
        ",,,,\n"
        ',"two\nlines",,,\n'
        "r3,bad,NEGATIVE,,\n"
    )
    path = write(tmp_path / "up.csv", content)
    a, b, c = list(iter_csv(path))
    assert (a.id, a.text, a.label, a.meta["source"]) == ("r1", "good, really", POS, "web")
    assert a.image == os.path.normpath(tmp_path.resolve() / "a.png")
    assert (b.id, b.text, b.label, b.image) == ("up:4", "two\nlines", None, None)
    assert (c.id, c.label, c.meta["line"]) == ("r3", NEG, 6)


@pytest.mark.parametrize(
    "content, needle",
    [
        ("", "empty file"),
        ("id,label\n1,positive\n", "no 'text' column"),
        ("text,Text\na,b\n", "duplicate columns"),
        ("text,label\na,positive\nb,great\n", "line 3: label must be one of"),
        ("text,label\na,positive\nb,positive,extra\n", "line 3: 3 cells"),
        ("text,label\na,positive\n,negative\n", "line 3: empty 'text'"),
    ],
)
def test_iter_csv_errors(tmp_path, content, needle):
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(InputError) as err:
        list(iter_csv(path))
    assert needle in str(err.value) and str(path) in str(err.value)


def test_iter_csv_invalid_utf8(tmp_path):
    path = write(tmp_path / "bad.csv", b"text\nfine\nalso fine\nbro\xe1ken\n")
    with pytest.raises(InputError, match=r"line 4: invalid UTF-8 at byte 23"):
        list(iter_csv(path))


# --- CoNLL -----------------------------------------------------------------------------


def test_conll_round_trip(tmp_path):
    exs = read_semeval(write(tmp_path / "gold-en-dev.txt", SEMEVAL_SAMPLE))
    path = tmp_path / "o.conll"
    assert write_conll(path, exs) == 4
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[:5] == ["The\tO", "food\tS-NEG", "was\tO", "cold\tO", ""]
    assert "Jazz\tB-POS" in lines and "Bar\tE-POS" in lines
    back = read_conll(path)
    assert [(e.text, e.spans, e.tokens) for e in back] == [(e.text, e.spans, e.tokens) for e in exs]
    assert back[1].id == "o:1" and back[1].meta["line"] == 6 and back[0].label is None


def test_conll_whitespace_tokens_and_alignment(tmp_path):
    text = "  the  fish soup,  ok "
    ex = Example(id="w", text=text, spans=(AspectSpan(7, 17, "fish soup,", NEG),))
    path = tmp_path / "w.conll"
    write_conll(path, [ex])
    assert path.read_text() == "the\tO\nfish\tB-NEG\nsoup,\tE-NEG\nok\tO\n\n"  # 'soup,' is one token
    bad = Example(id="m", text=text, spans=(AspectSpan(7, 11, "fish", NEG), AspectSpan(12, 15, "sou", NEG)))
    with pytest.raises(InputError, match=r"example 'm'.*does not align"):
        write_conll(path, [bad])
    assert path.read_text().startswith("the\tO")  # failed write left the old file
    write_conll(path, [bad], snap=True)
    assert read_conll(path)[0].spans == (AspectSpan(4, 8, "fish", NEG), AspectSpan(9, 14, "soup,", NEG))
    overlapping = Example(id="o", text="a b", spans=(AspectSpan(0, 3, "a b", POS), AspectSpan(2, 3, "b", POS)))
    with pytest.raises(InputError, match="overlaps"):
        write_conll(path, [overlapping])
    with pytest.raises(InputError, match="covers no token"):
        write_conll(path, [Example(id="s", text="a  b", spans=(AspectSpan(1, 2, " ", POS),))])
    with pytest.raises(InputError, match="no tokens"):
        write_conll(path, [Example(id="e", text="   ")])
    tok = Example(id="t", text="a\tb", tokens=("a\tb",), token_offsets=((0, 3),))
    with pytest.raises(InputError, match="cannot be written"):
        write_conll(path, [tok])


def test_broken_bies_is_reported_by_line_and_kept_only_on_request(tmp_path):
    # sentence 1: E-POS without B; sentence 2 (from line 5): an unclosed B-NEG, then a good S-POS
    path = write(tmp_path / "b.conll", "the\tO\nfish\tE-POS\n\n\nslow\tB-NEG\nservice\tI-NEG\n,\tO\ntea\tS-POS\n")
    one, two = read_conll(path)
    assert one.spans == () and [(s.text, s.polarity) for s in two.spans] == [("tea", POS)]
    assert one.meta["bies_warnings"] == ["b.conll: line 2: tags E-POS are not a BIES span; span dropped (ask for repair to keep it)"]
    assert two.meta["bies_warnings"] == ["b.conll: line 5-6: tags B-NEG I-NEG are not a BIES span; span dropped (ask for repair to keep it)"]
    one, two = read_conll(path, repair=True)
    assert [s.text for s in one.spans] == ["fish"] and [s.text for s in two.spans] == ["slow service", "tea"]
    assert "kept as the repaired span" in two.meta["bies_warnings"][0]


def test_read_conll_lenient_and_errors(tmp_path):
    path = write(tmp_path / "r.conll", "I-POS\tI-POS\nx E-NEG\nO\tO \n\n\nb\tS-NEU\n")
    a, b = read_conll(path, repair=True)
    assert a.text == "I-POS x O"
    assert [(s.text, s.polarity) for s in a.spans] == [("I-POS", POS), ("x", NEG)]
    assert a.meta["bies_repaired"] is True and "bies_repaired" not in b.meta
    a, b = read_conll(path)  # not asked to repair: broken spans are not taken for gold
    assert a.spans == () and [(s.text, s.polarity) for s in b.spans] == [("b", "neutral")]
    assert a.meta["bies_warnings"] == [
        "r.conll: line 1: tags I-POS are not a BIES span; span dropped (ask for repair to keep it)",
        "r.conll: line 2: tags E-NEG are not a BIES span; span dropped (ask for repair to keep it)",
    ]
    for content, needle in [
        ("a\tO\nb\tT-POS\n", "line 2: unknown tag"),
        ("a\tO\nb\n", "line 2: expected 2 columns"),
        ("a\tO\tx\n", "line 1: expected 2 columns"),
        ("a\tO\n \tO\n", "line 2: empty token"),
    ]:
        with pytest.raises(InputError, match=needle):
            read_conll(write(tmp_path / "bad.conll", content))
    with pytest.raises(InputError, match="line 2: invalid UTF-8"):
        read_conll(write(tmp_path / "bad.conll", b"a\tO\n\xff\tO\n"))


# --- load_examples ---------------------------------------------------------------------


def test_load_examples(tmp_path):
    sem = write(tmp_path / "gold-es-dev.txt", SEMEVAL_SAMPLE)
    assert len(load_examples(f"semeval:{sem}")) == 4
    gk = write(tmp_path / "g.json", gk_rows(["5"]))
    assert load_examples(f"gklmip:{gk}")[0].label == POS
    jl = write(tmp_path / "a.jsonl", '{"text": "x"}\n')
    assert load_examples(f"jsonl:{jl}")[0].text == "x"
    assert load_examples(str(jl))[0].text == "x"  # extension
    cs = write(tmp_path / "a.csv", "text\ny\n")
    assert load_examples(f"csv:{cs}")[0].text == "y"
    write_conll(tmp_path / "c.conll", load_examples(f"semeval:{sem}"))
    assert len(load_examples(f"conll:{tmp_path / 'c.conll'}")) == 4
    assert len(load_examples(str(tmp_path / "c.conll"))) == 4
    with pytest.raises(InputError, match="unknown dataset"):
        load_examples(f"xml:{jl}")
    with pytest.raises(InputError, match="unknown dataset"):
        load_examples(str(sem))
    with pytest.raises(InputError, match="not found"):
        load_examples(f"jsonl:{tmp_path / 'missing.jsonl'}")
    with pytest.raises(InputError, match="not a file"):
        load_examples(f"semeval:{tmp_path}")
    with pytest.raises(InputError, match="no path"):
        load_examples("csv:")
