"""VecMap-style mapping: normalisation, Procrustes, CSLS, induction, dictionaries."""
from __future__ import annotations

import numpy as np
import pytest

from xsent_core.types import InputError
from xsent_core.vecmap import (
    ChainedMap,
    CrossLingualMap,
    csls,
    denormalize,
    fit_mapping,
    mutual_nearest_neighbours,
    normalize_embeddings,
    orient_pairs,
    parse_dictionary,
    precision_at_1,
    procrustes,
    read_dictionary,
    split_dictionary,
)


def test_normalize_by_hand():
    # [3,4] -> [.6,.8]; [0,2] -> [0,1]; mean [.3,.9]; centred [.3,-.1], [-.3,.1];
    # unit: +-[.3,-.1]/sqrt(.1) = +-[.948683, -.316228]
    x, mean = normalize_embeddings(np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(mean, [0.3, 0.9], atol=1e-6)
    np.testing.assert_allclose(x, [[0.948683, -0.316228], [-0.948683, 0.316228]], atol=1e-5)
    # a stored centre is reused as is
    y, same = normalize_embeddings(np.array([[3.0, 4.0]]), mean)
    np.testing.assert_allclose(y, [[0.948683, -0.316228]], atol=1e-5)
    assert same is not None


def test_denormalize_and_into_target_space_by_hand():
    # the rows of test_normalize_by_hand: centre [.3,.9], |centre|^2 = .9, so the length put back is sqrt(.1)
    # and sqrt(.1) * [.948683, -.316228] + [.3, .9] = [.6, .8]: the unit row itself (both rows are sqrt(.1) from the centre)
    x, mean = normalize_embeddings(np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(denormalize(x, mean), [[0.6, 0.8], [0.0, 1.0]], atol=1e-5)
    # Burmese centre [.3,.9], English centre [.9,.3], W swaps the axes:
    # [3,4] -> [.948683, -.316228] -> W -> [-.316228, .948683] -> * sqrt(.1) = [-.1, .3] -> + [.9, .3] = [.8, .6]
    swap = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    m = CrossLingualMap(swap, mean, np.array([0.9, 0.3], dtype=np.float32))
    np.testing.assert_allclose(m.into_target_space(np.array([3.0, 4.0])), [[0.8, 0.6]], atol=1e-5)
    # the target side is never touched, and a chain (stored centres, then a rotation) lands where one map does
    zero = np.zeros(2, np.float32)
    chain = ChainedMap((CrossLingualMap(np.eye(2, dtype=np.float32), m.source_mean, m.target_mean), CrossLingualMap(swap, zero, zero)))
    np.testing.assert_allclose(chain.into_target_space(np.array([[3.0, 4.0]])), [[0.8, 0.6]], atol=1e-5)


def test_procrustes_by_hand_and_random_rotation():
    # x = I, y = 90-degree rotation: x^T y = y is orthogonal, so W = y
    y = np.array([[0.0, 1.0], [-1.0, 0.0]])
    np.testing.assert_allclose(procrustes(np.eye(2), y), y, atol=1e-6)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    x = rng.normal(size=(50, 8))
    w = procrustes(x, x @ q)
    np.testing.assert_allclose(w, q, atol=1e-5)
    np.testing.assert_allclose(w @ w.T, np.eye(8), atol=1e-5)


def test_csls_and_mutual_nn_by_hand():
    # sims = [[1, .6], [0, .8]]; k=1: r_b(a) = [1, .8], r_a(b) = [1, .8]
    # csls = 2*sims - r_b(a)[:,None] - r_a(b)[None,:] = [[0, -.6], [-1.8, 0]]
    a = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    b = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    np.testing.assert_allclose(csls(a, b, k=1), [[0.0, -0.6], [-1.8, 0.0]], atol=1e-6)
    np.testing.assert_allclose(csls(a, b, k=0), a @ b.T, atol=1e-6)
    assert mutual_nearest_neighbours(csls(a, b, k=1)) == [(0, 0), (1, 1)]
    # a hub column that every row prefers is matched once only
    assert mutual_nearest_neighbours(np.array([[0.9, 0.1], [0.8, 0.2]])) == [(0, 0)]


def _synthetic(n=300, d=16, noise=0.01, seed=0, shuffle=True):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = rng.normal(size=(n, d)).astype(np.float32)
    perm = rng.permutation(n) if shuffle else np.arange(n)
    y = (x @ q + noise * rng.normal(size=(n, d)))[perm].astype(np.float32)
    src = [f"s{i}" for i in range(n)]
    tgt = [f"t{i}" for i in perm]  # target word t{i} is the translation of s{i}
    return src, x, tgt, y, q


def test_fit_mapping_supervised_recovers_rotation_and_reports_p_at_1():
    src, x, tgt, y, _ = _synthetic()
    pairs = [(f"s{i}", f"t{i}") for i in range(300)]
    seed_pairs, test_pairs = split_dictionary(pairs, 0.5, seed=1)
    result = fit_mapping(src, x, tgt, y, seed_pairs[:20], iterations=3, test_pairs=test_pairs)
    assert result.init == "dictionary" and result.seed_pairs == 20
    ev = result.evaluation
    assert ev["n"] == 150 and ev["coverage"] == 1.0
    assert ev["precision_at_1"] > 0.95
    assert ev["precision_at_1_unmapped"] < 0.2  # a random rotation hides the translations
    mapped = result.mapping.map_source(x[:5])
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)


def test_fit_mapping_unsupervised_identity_and_similarity_init():
    # same space (a multilingual encoder): the identity init finds the pairs
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 16)).astype(np.float32)
    perm = rng.permutation(200)
    y = (x + 0.01 * rng.normal(size=x.shape))[perm].astype(np.float32)
    src, tgt = [f"s{i}" for i in range(200)], [f"t{i}" for i in perm]
    test = [(f"s{i}", f"t{i}") for i in range(200)]
    r = fit_mapping(src, x, tgt, y, None, iterations=2, test_pairs=test)
    assert r.init == "identity" and r.evaluation["precision_at_1"] > 0.95
    # rotated but isometric: only the similarity-distribution init can start it
    src, x, tgt, y, _ = _synthetic(n=200, d=8, noise=0.0, seed=5)
    r = fit_mapping(src, x, tgt, y, None, init="similarity", iterations=5, test_pairs=test)
    assert r.init == "similarity" and r.evaluation["precision_at_1"] > 0.9


def test_fit_mapping_bad_inputs():
    src, x, tgt, y, _ = _synthetic(n=30)
    with pytest.raises(InputError, match="no dictionary pair"):
        fit_mapping(src, x, tgt, y, [("nope", "nada")], init="dictionary")
    with pytest.raises(InputError, match="empty vocabulary"):
        fit_mapping([], np.zeros((0, 16)), tgt, y)
    r = fit_mapping(src, x, tgt, y, [("s1", "t1"), ("s2", "t2"), ("oov", "t3")], iterations=0)
    assert any("outside the vocabularies" in w for w in r.warnings)


def test_precision_at_1_counts_only_covered_words():
    a = np.eye(3, dtype=np.float32)
    p = precision_at_1(a, ["x", "y", "z"], a, ["X", "Y", "Z"], [("x", "X"), ("y", "Z"), ("q", "X")], k=0)
    # x -> X right, y -> Y wrong (gold Z), q not in vocabulary
    assert p == {"precision_at_1": 0.5, "n": 2.0, "coverage": pytest.approx(2 / 3)}


def test_identity_mapping_is_plain_normalisation():
    m = CrossLingualMap.identity(2)
    np.testing.assert_allclose(m.map_source(np.array([3.0, 4.0])), [[0.6, 0.8]], atol=1e-6)


def test_read_dictionary(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("\ufeff# comment\nChat\tCat\n\nchien\tdog\r\n", encoding="utf-8")
    assert read_dictionary(f) == [("chat", "cat"), ("chien", "dog")]
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no word pairs"):
        read_dictionary(empty)
    only_comments = tmp_path / "c.tsv"
    only_comments.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no word pairs"):
        read_dictionary(only_comments)
    with pytest.raises(InputError, match="line 2"):
        parse_dictionary("a\tb\nno-tab-here\n", source="x.tsv")
    with pytest.raises(InputError, match="not found"):
        read_dictionary(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(InputError, match="UTF-8"):
        read_dictionary(bad)


def test_orient_and_split():
    pairs = [("cat", "chat"), ("dog", "chien")]
    oriented, swapped = orient_pairs(pairs, ["chat", "chien"], ["cat", "dog"])
    assert swapped and oriented == [("chat", "cat"), ("chien", "dog")]
    assert orient_pairs(pairs, ["cat"], ["chat"]) == (pairs, False)
    many = [(f"w{i}", f"v{i}") for i in range(10)] + [("w0", "alt")]
    seed, test = split_dictionary(many, 0.3, seed=0)
    assert len({a for a, _ in test}) == 3
    assert not {a for a, _ in seed} & {a for a, _ in test}
    assert split_dictionary(many, 0.3, seed=0) == (seed, test)


@pytest.mark.parametrize("name", ["fr-en.tsv", "es-en.tsv", "my-en.tsv"])
def test_shipped_dictionaries_parse(name):
    from xsent_core.paths import repo_root

    pairs = read_dictionary(repo_root() / "assets" / "dictionaries" / name)
    assert len(pairs) > 100


def test_chained_map_equals_one_map_when_split():
    rng = np.random.default_rng(4)
    w = np.linalg.qr(rng.normal(size=(6, 6)))[0].astype(np.float32)
    ms, mt = rng.normal(size=6).astype(np.float32) * 0.1, rng.normal(size=6).astype(np.float32) * 0.1
    whole = CrossLingualMap(w, ms, mt)
    zero = np.zeros(6, np.float32)
    chain = ChainedMap((CrossLingualMap(np.eye(6, dtype=np.float32), ms, mt), CrossLingualMap(w, zero, zero)))
    x = rng.normal(size=(5, 6))
    np.testing.assert_allclose(chain.map_source(x), whole.map_source(x), atol=1e-5)
    np.testing.assert_allclose(chain.map_target(x), whole.map_target(x), atol=1e-5)
    np.testing.assert_allclose(chain.into_target_space(x), whole.into_target_space(x), atol=1e-5)


def test_procrustes_identity_prior_by_hand():
    # x = I, y = a 90-degree rotation; x^T y + mu I = [[mu, 1], [-1, mu]] = sqrt(mu^2+1) R(theta)
    # with cos(theta) = mu / sqrt(mu^2 + 1): mu = 1 gives 45 degrees, halfway to the identity
    y = np.array([[0.0, 1.0], [-1.0, 0.0]])
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(procrustes(np.eye(2), y, identity_weight=1.0), [[s, s], [-s, s]], atol=1e-6)
    np.testing.assert_allclose(procrustes(np.eye(2), y, identity_weight=1e6), np.eye(2), atol=1e-5)
    with pytest.raises(ValueError, match="identity_weight"):
        procrustes(np.eye(2), y, identity_weight=-1.0)


def test_whitening_by_hand():
    from xsent_core.vecmap import whitening

    # rows [2,0], [-2,0], [0,1], [0,-1]: mean 0, covariance (n-1 = 3) diag(8/3, 2/3)
    x = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    w, w_inv = whitening(x, eps=0.0)
    np.testing.assert_allclose(w, np.diag([np.sqrt(3 / 8), np.sqrt(3 / 2)]), atol=1e-9)
    np.testing.assert_allclose(w @ w_inv, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(np.cov((x @ w).T), np.eye(2), atol=1e-9)


def test_identity_prior_is_chosen_by_cross_validation_only_where_it_helps():
    """Spaces that already match (a multilingual encoder): 40 seed pairs in 64 dimensions
    overfit a free rotation (precision@1 0.46), the prior keeps it; a true random rotation picks λ = 0."""
    rng = np.random.default_rng(0)
    n, d = 400, 64
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x + 0.8 * rng.normal(size=(n, d))).astype(np.float32)
    src, tgt = [f"s{i}" for i in range(n)], [f"t{i}" for i in range(n)]
    seed_pairs, test_pairs = split_dictionary([(f"s{i}", f"t{i}") for i in range(n)], 0.5, seed=1)
    free = fit_mapping(src, x, tgt, y, seed_pairs[:40], iterations=0, test_pairs=test_pairs, identity_prior=0.0)
    auto = fit_mapping(src, x, tgt, y, seed_pairs[:40], iterations=0, test_pairs=test_pairs)
    assert free.evaluation["precision_at_1"] < 0.6 and free.identity_prior == 0.0
    assert auto.identity_prior > 0 and auto.evaluation["precision_at_1"] > 0.95
    assert auto.identity_prior_scores[0.0] < auto.identity_prior_scores[auto.identity_prior]
    assert auto.summary()["identity_prior"] == auto.identity_prior
    src, x, tgt, y, _ = _synthetic()
    rotated = fit_mapping(src, x, tgt, y, [(f"s{i}", f"t{i}") for i in range(60)], iterations=0)
    assert rotated.identity_prior == 0.0


def test_whitened_fit_maps_into_the_target_space():
    src, x, tgt, y, _ = _synthetic()
    pairs = [(f"s{i}", f"t{i}") for i in range(300)]
    seed_pairs, test_pairs = split_dictionary(pairs, 0.5, seed=1)
    result = fit_mapping(src, x, tgt, y, seed_pairs, iterations=0, test_pairs=test_pairs, whiten=True, identity_prior=0.0)
    assert result.whitened and result.evaluation["precision_at_1"] > 0.9
