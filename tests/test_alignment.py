"""Alignment analysis: pairs input, embeddings, cosine table, projections, figures, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest

from xsent_core.alignment import (
    MIN_UMAP_POINTS,
    PAPER_CONCEPTS,
    ConceptPair,
    analyse_pairs,
    cosine_distance,
    embed_texts,
    parse_pairs,
    project_2d,
    read_pairs,
)
from xsent_core.text import has_myanmar
from xsent_core.types import InputError
from xsent_core.vecmap import CrossLingualMap


def test_paper_concepts_are_built_in():
    assert [p.english for p in PAPER_CONCEPTS] == ["democracy", "technology", "market", "education", "revolution"]
    assert [p.burmese for p in PAPER_CONCEPTS] == ["ဒီမိုကရေစီ", "နည်းပညာ", "ဈေးကွက်", "ပညာရေး", "တော်လှန်ရေး"]
    assert [p.paper_distance for p in PAPER_CONCEPTS] == [0.18, 0.32, 0.12, 0.15, 0.41]


def test_cosine_distance_by_hand():
    # [1,0] vs [1,0]: 0; [1,0] vs [0,2]: 1; [1,1] vs [-1,-1]: 2; [3,4] vs [4,3]: 1 - 24/25 = .04
    a = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    b = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0], [4.0, 3.0]])
    np.testing.assert_allclose(cosine_distance(a, b), [0.0, 1.0, 2.0, 0.04], atol=1e-12)


def test_parse_pairs_and_bad_inputs(tmp_path):
    pairs = parse_pairs("# English<TAB>Burmese\nmarket\tဈေးကွက်\ngood, ကောင်း\nbad | ဆိုး\n")
    assert [(p.english, p.burmese) for p in pairs] == [("market", "ဈေးကွက်"), ("good", "ကောင်း"), ("bad", "ဆိုး")]
    with pytest.raises(InputError, match="no pairs"):
        parse_pairs("   \n# only a comment\n")
    with pytest.raises(InputError, match="line 2"):
        parse_pairs("a\tb\njust-one-column\n")
    with pytest.raises(InputError, match="line 1"):
        parse_pairs("market\t\n")
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no pairs"):
        read_pairs(empty)
    with pytest.raises(InputError, match="not found"):
        read_pairs(tmp_path / "missing.tsv")


def test_projection_pca_below_threshold_and_umap_above():
    rng = np.random.default_rng(0)
    small = rng.normal(size=(MIN_UMAP_POINTS - 1, 8))
    coords, used = project_2d(small)
    assert used == "pca" and coords.shape == (MIN_UMAP_POINTS - 1, 2)
    # PCA by hand: points on a line along [1, 1] -> first axis carries all the spread
    line = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    coords, _ = project_2d(line, "pca")
    np.testing.assert_allclose(np.abs(coords[:, 0]), [np.sqrt(2), 0.0, np.sqrt(2)], atol=1e-5)
    np.testing.assert_allclose(coords[:, 1], 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="projection"):
        project_2d(small, "tsne")


@pytest.mark.slow  # numba compiles UMAP on first use: over a minute on 2 cores
def test_umap_from_threshold_up_with_fixed_seed():
    rng = np.random.default_rng(0)
    big = np.concatenate([rng.normal(size=(20, 8)), rng.normal(loc=5.0, size=(20, 8))])
    a, used = project_2d(big, seed=3, n_epochs=50)
    b, _ = project_2d(big, seed=3, n_epochs=50)
    assert used == "umap" and a.shape == (40, 2)
    np.testing.assert_allclose(a, b)  # fixed seed: same picture every time


def test_analyse_concepts_with_encoder(builtin_encoder):
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(384, 384)))[0].astype(np.float32)
    mapping = CrossLingualMap(rot, np.zeros(384, np.float32), np.zeros(384, np.float32))
    result = analyse_pairs(PAPER_CONCEPTS, builtin_encoder, mapping, layer=8, vocabulary=["market"])
    table = result.table
    assert list(table["english"]) == ["democracy", "technology", "market", "education", "revolution"]
    assert {"cosine_distance_before", "cosine_distance_after", "change", "paper_distance", "in_vocabulary"} <= set(table)
    assert table["cosine_distance_before"].between(0, 2).all()
    # zero centres: the shift alone is no move at all; a random rotation then scatters the pairs
    np.testing.assert_allclose(table["cosine_distance_shifted"], table["cosine_distance_before"], atol=2e-4)
    assert (table["cosine_distance_after"] > table["cosine_distance_before"]).all()
    np.testing.assert_allclose(table["change"], table["cosine_distance_after"] - table["cosine_distance_before"], atol=2e-4)
    assert result.projection == "pca"  # 10 points
    assert set(result.figures) == {"before", "after"} and result.figure is result.figures["after"]
    fig = result.figures["before"]
    names = [t.name for t in fig.data]
    assert names == ["pair", "English", "Burmese"]
    assert sum(v is None for v in fig.data[0].x) == 5  # one line per pair
    assert "cosine distance" in fig.data[1].hovertext[0]
    assert len(result.points) == 20 and set(result.points["space"]) == {"before", "after"}
    assert any("not in the model's static table" in w and "embedded alone" in w for w in result.warnings)
    # the same embedding as embed_texts at that layer
    vec = embed_texts(builtin_encoder, ["democracy"], layer=8)
    before = analyse_pairs(PAPER_CONCEPTS[:1], builtin_encoder, None, layer=8)
    assert before.table["cosine_distance_before"][0] == pytest.approx(
        float(cosine_distance(vec, embed_texts(builtin_encoder, ["ဒီမိုကရေစီ"], layer=8))[0]), abs=1e-4
    )
    assert set(before.figures) == {"before"} and any("no mapping" in w for w in before.warnings)
    # a map with no rotation is its shift alone: "after" and "shifted" agree, and both differ from "before"
    rng = np.random.default_rng(1)
    shift = CrossLingualMap(np.eye(384, dtype=np.float32), *(0.05 * rng.normal(size=(2, 384)).astype(np.float32)))
    shifted = analyse_pairs(PAPER_CONCEPTS, builtin_encoder, shift, layer=8).table
    np.testing.assert_allclose(shifted["cosine_distance_after"], shifted["cosine_distance_shifted"], atol=2e-4)
    assert (shifted["change"].abs() > 1e-3).all()


def test_linguists_bad_inputs(builtin_encoder):
    pairs = [
        ConceptPair("market", "ဈေး market"),  # mixed Burmese-English
        ConceptPair("like", "ႀကိဳက္"),  # Zawgyi
        ConceptPair("xqzv", "ဇဇဇဇ"),  # words no vocabulary has
        ConceptPair("good", "good"),  # no Burmese script
    ]
    result = analyse_pairs(pairs, builtin_encoder, None, layer=4, vocabulary=[])
    text = " ".join(result.warnings)
    assert "mixes Burmese and Latin" in text
    assert "Zawgyi" in text and "ကြိုက်" in result.table["burmese"].tolist()
    assert "not in the model's static table" in text and "'xqzv'" in text
    assert "no Burmese script" in text
    assert np.isfinite(result.table["cosine_distance_before"]).all()
    with pytest.raises(InputError, match="empty"):
        analyse_pairs([ConceptPair("x", "\u200b")], builtin_encoder, None, layer=4)
    with pytest.raises(InputError, match="no pairs"):
        analyse_pairs([], builtin_encoder)


def test_pairs_in_either_column_order_are_read_by_script():
    from xsent_core.alignment import read_pair_lines

    pairs, swapped = read_pair_lines("ဈေးကွက်\tmarket\ngood\tကောင်း\nဆိုး | bad\n")
    assert [(p.english, p.burmese) for p in pairs] == [("market", "ဈေးကွက်"), ("good", "ကောင်း"), ("bad", "ဆိုး")]
    assert swapped == 2
    # the shipped lexicons (Burmese first, a third column in the CLDR one) read as pairs
    from xsent_core.paths import repo_root

    for name in ("my-en.tsv", "my-en-cldr.tsv"):
        text = (repo_root() / "assets" / "dictionaries" / name).read_text(encoding="utf-8")
        pairs, swapped = read_pair_lines(text)
        assert len(pairs) > 100 and swapped == len(pairs)
        assert all(not has_myanmar(p.english) and has_myanmar(p.burmese) for p in pairs)


def test_mapping_check_measures_retrieval_and_hides_a_worse_after(builtin_encoder):
    """A random rotation scrambles held-out translations: the check says so, and no 'after' figure is drawn."""
    from xsent_core.alignment import check_mapping, check_pairs

    pairs = check_pairs()[:60]
    identity = CrossLingualMap.identity(384)
    same = check_mapping(builtin_encoder, identity, 8, pairs)
    assert same.pairs == len({b for b, _ in pairs}) and same.precision_after == pytest.approx(same.precision_before)
    assert not same.brings_closer  # equal is not closer
    assert 0.0 < same.precision_before < 1.0 and 0.0 < same.distance_before < 1.0
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(384, 384)))[0].astype(np.float32)
    scrambled = CrossLingualMap(rot, np.zeros(384, np.float32), np.zeros(384, np.float32))
    worse = check_mapping(builtin_encoder, scrambled, 8, pairs)
    assert worse.precision_after < worse.precision_before and not worse.brings_closer
    assert "does **not** bring translations closer" in worse.sentence()
    result = analyse_pairs(PAPER_CONCEPTS, builtin_encoder, scrambled, layer=8, check=worse)
    assert set(result.figures) == {"before"} and "cosine_distance_after" in result.table
    assert any("does not bring translations closer" in w and "not drawn" in w for w in result.warnings)
    assert result.mapping_check is worse
    with pytest.raises(InputError, match="no word pairs"):
        check_mapping(builtin_encoder, identity, 8, [])


def test_a_map_fitted_on_the_curated_words_brings_held_out_cldr_pairs_closer(builtin_encoder):
    """What the tab's bare-encoder 'after' is: fitted on my-en.tsv, checked on pairs it never saw."""
    from xsent_core.alignment import SEED_LEXICON, check_mapping, check_pairs, fit_lexicon_map

    seed = check_pairs(SEED_LEXICON)
    held_out = check_pairs()
    assert not {b for b, _ in seed} & {b for b, _ in held_out}  # no Burmese word in both lists
    fitted = fit_lexicon_map(builtin_encoder, 8, seed)
    assert fitted.identity_prior > 0  # cross-validation keeps the map near the encoder's own alignment
    check = check_mapping(builtin_encoder, fitted.mapping, 8, held_out)
    assert check.pairs > 300 and check.brings_closer and check.precision_after > check.precision_before + 0.03
    # measured where English lies (only Burmese moves), held-out translations are nearer on average too,
    # but the sentence must not let a reader take the mean for the verdict
    assert check.distance_after < check.distance_before and "not the test" in check.sentence()
