"""VecMap-style cross-lingual mapping of static word vectors (numpy only).

Follows Artetxe et al. (2016, 2018) as used by VXLM (seed 002, eq. 2):
- normalisation: unit length, centre (subtract the language's mean), unit length;
- orthogonal Procrustes: W = U V^T from the SVD of X_d^T Y_d over dictionary
  pairs, so that x W ~ y (rows are words);
- self-learning: map, induce a new dictionary from mutual nearest neighbours
  under CSLS (Conneau et al. 2018), re-solve Procrustes, until the dictionary
  stops changing;
- no dictionary: the seed dictionary is induced from the encoder's own
  cross-lingual similarity (`init="identity"`: a multilingual encoder already
  places both languages in one space), or from VecMap's fully unsupervised
  similarity-distribution signatures (`init="similarity"`).

"source" is the language that is mapped (Burmese, French...), "target" the
pivot (English). Dictionary files are TSV `word<TAB>word`; the column order is
detected from the vocabularies (see `orient_pairs`).
"""
from __future__ import annotations

import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .types import InputError

EPS = 1e-8
WHITEN_EPS = 1e-2
IDENTITY_PRIORS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)  # candidates `identity_prior="auto"` chooses among


# -- normalisation --------------------------------------------------------------
def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, EPS)


def normalize_embeddings(x: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """VecMap's "unit, center, unit": returns (normalised rows, the centre used).

    The centre is the mean of the unit-length rows; pass a stored `mean` to
    normalise new vectors exactly like the vocabulary they were fitted with.
    """
    x = unit_rows(x)
    if mean is None:
        mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[-1], dtype=np.float32)
    return unit_rows(x - mean), np.asarray(mean, dtype=np.float32)


def denormalize(z: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows of a normalised space put back where unit-length vectors centred on `mean` lie.

    A unit row u with centre mu sits at |u - mu| c + mu (c its normalised row); over
    unit rows the mean of |u - mu|^2 is 1 - |mu|^2, so that root-mean-square length
    stands in for each row's own. Undoes `normalize_embeddings` up to that length:
    the translation half of a full Procrustes map (centre, rotate, move to the
    target's centre).
    """
    mean = np.asarray(mean, dtype=np.float32)
    return np.sqrt(max(0.0, 1.0 - float(mean @ mean))) * np.asarray(z, dtype=np.float32) + mean


# -- the two core computations ------------------------------------------------------
def procrustes(x: np.ndarray, y: np.ndarray, identity_weight: float = 0.0) -> np.ndarray:
    """Orthogonal W minimising ||x W - y||_F^2 + identity_weight * ||W - I||_F^2 (rows are paired vectors).

    SVD of x^T y + identity_weight * I = U S V^T gives W = U V^T (Schoenemann 1966;
    the penalty only adds to the trace that W maximises). The penalty keeps W near
    the identity: a multilingual encoder already puts translations close, and a
    free rotation fitted on a few hundred pairs in 384 dimensions undoes that.
    """
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"procrustes needs two [n, d] arrays of one shape, got {x.shape} and {y.shape}")
    if identity_weight < 0:
        raise ValueError(f"identity_weight must be >= 0, got {identity_weight}")
    cross = x.astype(np.float64).T @ y.astype(np.float64) + identity_weight * np.eye(x.shape[1])
    u, _, vt = np.linalg.svd(cross)
    return (u @ vt).astype(np.float32)


def whitening(x: np.ndarray, eps: float = WHITEN_EPS) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening of rows (VecMap's PCA decorrelation) and its inverse: (C^-1/2, C^1/2).

    C is the rows' covariance plus `eps` I; rows are unit length, so their total
    variance is 1 and `eps` = 0.01 is strong shrinkage toward no whitening.
    """
    c = np.cov(np.asarray(x, dtype=np.float64).T) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    u, s, _ = np.linalg.svd(c + eps * np.eye(len(c)))
    return (u / np.sqrt(s)) @ u.T, (u * np.sqrt(s)) @ u.T


def knn_mean_similarity(a: np.ndarray, b: np.ndarray, k: int, batch: int = 4096) -> np.ndarray:
    """For each row of a: mean cosine to its k nearest rows of b (r_b(a) in CSLS)."""
    k = max(1, min(k, len(b)))
    out = np.zeros(len(a), dtype=np.float32)
    for s in range(0, len(a), batch):
        sims = a[s : s + batch] @ b.T
        top = np.partition(sims, -k, axis=1)[:, -k:] if k < sims.shape[1] else sims
        out[s : s + batch] = top.mean(axis=1)
    return out


def csls(a: np.ndarray, b: np.ndarray, k: int = 10) -> np.ndarray:
    """CSLS(a_i, b_j) = 2 cos(a_i, b_j) - r_b(a_i) - r_a(b_j); rows must be unit length.

    k = 0 gives plain cosine similarity.
    """
    sims = a @ b.T
    if k <= 0:
        return sims
    return 2 * sims - knn_mean_similarity(a, b, k)[:, None] - knn_mean_similarity(b, a, k)[None, :]


def mutual_nearest_neighbours(scores: np.ndarray) -> list[tuple[int, int]]:
    """(i, j) with j the best column for row i and i the best row for column j."""
    if scores.size == 0:
        return []
    best_col = scores.argmax(axis=1)
    best_row = scores.argmax(axis=0)
    return [(i, int(j)) for i, j in enumerate(best_col) if best_row[j] == i]


# -- dictionaries ---------------------------------------------------------------
def clean_word(word: str) -> str:
    """The form words are looked up by: NFC, stripped, lower-cased (no-op for Burmese)."""
    return unicodedata.normalize("NFC", word).strip().lower()


def read_dictionary(path: str | Path) -> list[tuple[str, str]]:
    """Word pairs from a TSV file `word<TAB>word` (UTF-8).

    Blank lines and lines starting with '#' are skipped. InputError names the
    file and line for a malformed row, and refuses a file with no pairs.
    """
    from .data._io import decode_utf8, read_bytes

    p = Path(path).expanduser()
    return parse_dictionary(decode_utf8(read_bytes(p), p), source=str(p))


def parse_dictionary(text: str, source: str = "dictionary") -> list[tuple[str, str]]:
    """Pairs from TSV text (see `read_dictionary`)."""
    pairs: list[tuple[str, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise InputError(
                f"{source}: line {n}: expected two words separated by a TAB, got {line.strip()[:60]!r}"
            )
        pairs.append((clean_word(cols[0]), clean_word(cols[1])))
    if not pairs:
        raise InputError(f"{source}: no word pairs found (the file is empty or only has comments)")
    return pairs


def orient_pairs(
    pairs: Sequence[tuple[str, str]], source_words: Iterable[str], target_words: Iterable[str]
) -> tuple[list[tuple[str, str]], bool]:
    """Return pairs as (source word, target word) and whether the columns were swapped.

    The order that finds more pairs inside the two vocabularies wins; ties keep
    the file's order.
    """
    src, tgt = set(source_words), set(target_words)
    as_is = sum(a in src and b in tgt for a, b in pairs)
    swapped = sum(b in src and a in tgt for a, b in pairs)
    if swapped > as_is:
        return [(b, a) for a, b in pairs], True
    return list(pairs), False


def split_dictionary(
    pairs: Sequence[tuple[str, str]], test_fraction: float, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(seed part, held-out part), split by source word so no source word is in both."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for a, b in pairs:
        by_source[a].append((a, b))
    keys = sorted(by_source)
    random.Random(seed).shuffle(keys)
    n_test = int(round(test_fraction * len(keys)))
    test_keys = set(keys[:n_test])
    seed_part = [p for k in keys if k not in test_keys for p in by_source[k]]
    test_part = [p for k in keys if k in test_keys for p in by_source[k]]
    return seed_part, test_part


# -- fitted mapping ---------------------------------------------------------------
@dataclass(frozen=True)
class CrossLingualMap:
    """A fitted map: normalise each side with its own centre, then source rows @ w."""

    w: np.ndarray  # [d, d]: orthogonal, or a general linear map when fitted whitened
    source_mean: np.ndarray  # [d]
    target_mean: np.ndarray  # [d]

    def map_source(self, x: np.ndarray) -> np.ndarray:
        return normalize_embeddings(np.atleast_2d(x), self.source_mean)[0] @ self.w

    def map_target(self, y: np.ndarray) -> np.ndarray:
        return normalize_embeddings(np.atleast_2d(y), self.target_mean)[0]

    def into_target_space(self, x: np.ndarray) -> np.ndarray:
        """Source rows mapped all the way into the target's own (unnormalised) space, where
        target vectors lie untouched: normalise, rotate, then `denormalize` with the target's centre."""
        return denormalize(self.map_source(x), self.target_mean)

    @classmethod
    def identity(cls, dim: int) -> "CrossLingualMap":
        z = np.zeros(dim, dtype=np.float32)
        return cls(np.eye(dim, dtype=np.float32), z, z.copy())

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w, "source_mean": self.source_mean, "target_mean": self.target_mean}


@dataclass(frozen=True)
class MappingResult:
    mapping: CrossLingualMap
    dictionary: tuple[tuple[str, str], ...]  # the final (seed + induced) training dictionary
    seed_pairs: int  # seed pairs found in both vocabularies
    init: str  # "dictionary" | "identity" | "similarity"
    iterations: int
    history: tuple[dict[str, float], ...] = ()
    evaluation: dict[str, float] | None = None
    warnings: tuple[str, ...] = ()
    identity_prior: float = 0.0  # λ the rotations were pulled toward the identity with
    identity_prior_scores: Mapping[float, float] = field(default_factory=dict)  # cross-validated λ -> precision@1
    whitened: bool = False

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts (no matrices)."""
        return {
            "init": self.init,
            "seed_pairs": self.seed_pairs,
            "dictionary_size": len(self.dictionary),
            "iterations": self.iterations,
            "history": [dict(h) for h in self.history],
            "evaluation": dict(self.evaluation) if self.evaluation else None,
            "identity_prior": self.identity_prior,
            "identity_prior_scores": {str(k): round(v, 4) for k, v in self.identity_prior_scores.items()},
            "whitened": self.whitened,
            "warnings": list(self.warnings),
        }


def _lookup(words: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    return index


def similarity_signatures(x: np.ndarray) -> np.ndarray:
    """VecMap's unsupervised init: each word's sorted similarity profile sqrt(X X^T).

    Isometric spaces give matching profiles to translations, whatever their
    coordinates (Artetxe et al. 2018).
    """
    u, s, _ = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    sims = (u * s) @ u.T  # the matrix square root of x x^T
    sims.sort(axis=1)
    return normalize_embeddings(sims.astype(np.float32))[0]


def induce_pairs(
    xs: np.ndarray, yt: np.ndarray, k: int, max_rank: int | None = None
) -> list[tuple[int, int]]:
    """Mutual CSLS nearest neighbours among the first `max_rank` rows of each side."""
    if max_rank:
        xs, yt = xs[:max_rank], yt[:max_rank]
    return mutual_nearest_neighbours(csls(xs, yt, k))


def precision_at_1(
    mapped_source: np.ndarray,
    source_words: Sequence[str],
    normalized_target: np.ndarray,
    target_words: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    k: int = 10,
) -> dict[str, float]:
    """Share of test source words whose CSLS nearest target is one of their translations.

    Only source words with at least one translation in the target vocabulary
    count (`n`); `coverage` is n over all distinct test source words.
    """
    si, ti = _lookup(source_words), _lookup(target_words)
    gold: dict[str, set[int]] = defaultdict(set)
    asked = {a for a, _ in pairs}
    for a, b in pairs:
        if a in si and b in ti:
            gold[a].add(ti[b])
    if not gold:
        return {"precision_at_1": 0.0, "n": 0.0, "coverage": 0.0}
    index_pairs = [(si[w], j) for w, targets in gold.items() for j in targets]
    return {
        "precision_at_1": retrieval_precision(mapped_source, normalized_target, index_pairs, k),
        "n": float(len(gold)),
        "coverage": len(gold) / max(1, len(asked)),
    }


def fit_mapping(
    source_words: Sequence[str],
    x: np.ndarray,
    target_words: Sequence[str],
    y: np.ndarray,
    dictionary: Sequence[tuple[str, str]] | None = None,
    *,
    init: str = "auto",
    iterations: int = 10,
    csls_k: int = 10,
    induction_rank: int | None = 5000,
    keep_seed: bool = True,
    test_pairs: Sequence[tuple[str, str]] | None = None,
    identity_prior: float | str = "auto",
    whiten: bool = False,
) -> MappingResult:
    """Fit an orthogonal map from the source space onto the target space.

    x [n_s, d] / y [n_t, d] are static vectors, rows ordered most frequent
    first (`induction_rank` limits dictionary induction to the most frequent
    words, as VecMap does). `dictionary` pairs are (source word, target word);
    pairs with a word outside the vocabularies are dropped with a warning.
    `init`: "auto" (seed dictionary if any pairs, else "identity"),
    "dictionary", "identity" or "similarity". `iterations` = 0 is plain
    Procrustes on the seed dictionary. With `test_pairs`, the result carries
    precision@1 before (normalisation only) and after mapping.

    `identity_prior` λ pulls every rotation toward the identity with weight
    λ · pairs / d (see `procrustes`); "auto" picks λ from IDENTITY_PRIORS by
    5-fold cross-validation on the seed dictionary (precision@1 of each left-out
    fold; the smallest λ among equals), and 0 without a dictionary. `whiten`
    decorrelates each side first (`whitening`), fits the rotation there and maps
    back into the target's space (VecMap's whiten / de-whiten steps).
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"vectors must be [n, d] with one d, got {x.shape} and {y.shape}")
    if len(source_words) != len(x) or len(target_words) != len(y):
        raise ValueError("one word per vector row is needed on each side")
    if len(x) == 0 or len(y) == 0:
        raise InputError("cannot map an empty vocabulary: no static vectors on one side")
    warnings: list[str] = []
    xs, source_mean = normalize_embeddings(x)
    yt, target_mean = normalize_embeddings(y)
    si, ti = _lookup(source_words), _lookup(target_words)
    seed_idx: list[tuple[int, int]] = []
    if dictionary:
        seed_idx = sorted({(si[a], ti[b]) for a, b in dictionary if a in si and b in ti})
        dropped = len(dictionary) - len(seed_idx)
        if dropped:
            warnings.append(
                f"{dropped} of {len(dictionary)} dictionary pairs have a word outside the vocabularies and were skipped"
            )
    if init == "auto":
        init = "dictionary" if seed_idx else "identity"
    if init == "dictionary" and not seed_idx:
        raise InputError(
            "no dictionary pair has both words in the vocabularies; check the language order of the "
            "dictionary or run without one (unsupervised initialisation)"
        )
    if init not in ("dictionary", "identity", "similarity"):
        raise ValueError(f"unknown init {init!r}; expected auto, dictionary, identity or similarity")

    if init == "dictionary":
        pairs = seed_idx
    elif init == "identity":
        pairs = induce_pairs(xs, yt, csls_k, induction_rank)
    else:
        n = min(len(xs), len(yt), induction_rank or len(xs), 4000)
        pairs = mutual_nearest_neighbours(csls(similarity_signatures(xs[:n]), similarity_signatures(yt[:n]), csls_k))
    if not pairs:
        raise InputError("could not induce any seed pair; the vocabularies may be too small")

    if identity_prior == "auto":
        prior, prior_scores = choose_identity_prior(xs, yt, seed_idx, csls_k, whiten) if init == "dictionary" else (0.0, {})
    else:
        prior, prior_scores = float(identity_prior), {}
    solve = _solver(xs, yt, prior, whiten)
    w = solve(pairs)
    history = [{"iteration": 0, "pairs": len(pairs), "mean_cosine": _mean_cos(xs, yt, w, pairs)}]
    done = 0
    keep = set(seed_idx) if keep_seed else set()
    current = set(pairs)
    for it in range(1, iterations + 1):
        induced = set(induce_pairs(xs @ w, yt, csls_k, induction_rank)) | keep
        if not induced:
            break
        done = it
        w = solve(sorted(induced))
        history.append({"iteration": it, "pairs": len(induced), "mean_cosine": _mean_cos(xs, yt, w, sorted(induced))})
        if induced == current:
            break
        current = induced
    final = sorted(current)
    mapping = CrossLingualMap(w=w, source_mean=source_mean, target_mean=target_mean)
    evaluation = None
    if test_pairs:
        before = precision_at_1(xs, source_words, yt, target_words, test_pairs, csls_k)
        after = precision_at_1(xs @ w, source_words, yt, target_words, test_pairs, csls_k)
        evaluation = {
            "precision_at_1": after["precision_at_1"],
            "precision_at_1_unmapped": before["precision_at_1"],
            "n": after["n"],
            "coverage": after["coverage"],
        }
        if after["n"] == 0:
            warnings.append("no held-out dictionary pair has both words in the vocabularies: precision@1 not measured")
    return MappingResult(
        mapping=mapping,
        dictionary=tuple((source_words[i], target_words[j]) for i, j in final),
        seed_pairs=len(seed_idx),
        init=init,
        iterations=done,
        history=tuple(history),
        evaluation=evaluation,
        warnings=tuple(warnings),
        identity_prior=prior,
        identity_prior_scores=prior_scores,
        whitened=whiten,
    )


def _solver(xs: np.ndarray, yt: np.ndarray, prior: float, whiten: bool) -> Any:
    """pairs -> the map W (applied as xs @ W) under one identity prior, whitened or not."""
    if whiten:
        wx, _ = whitening(xs)
        wy, wy_inv = whitening(yt)
        xw, yw = (xs @ wx).astype(np.float32), (yt @ wy).astype(np.float32)
    d = xs.shape[1]

    def solve(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        src, tgt = [i for i, _ in pairs], [j for _, j in pairs]
        weight = prior * len(pairs) / d
        if not whiten:
            return procrustes(xs[src], yt[tgt], weight)
        return (wx @ procrustes(xw[src], yw[tgt], weight) @ wy_inv).astype(np.float32)

    return solve


def choose_identity_prior(
    xs: np.ndarray, yt: np.ndarray, seed_idx: Sequence[tuple[int, int]], csls_k: int, whiten: bool = False, folds: int = 5
) -> tuple[float, dict[float, float]]:
    """λ from IDENTITY_PRIORS with the best mean precision@1 over `folds` left-out parts of the seed.

    Returns (λ, {λ: mean precision@1}); λ = 0 with fewer than 2 · folds seed pairs.
    The folds split source words, so a word's translations stay in one fold.
    """
    sources = sorted({i for i, _ in seed_idx})
    if len(sources) < 2 * folds:
        return 0.0, {}
    order = np.random.default_rng(0).permutation(len(sources))
    fold_of = {sources[k]: n % folds for n, k in enumerate(order)}
    scores: dict[float, float] = {}
    for prior in IDENTITY_PRIORS:
        hits = []
        for f in range(folds):
            train = [p for p in seed_idx if fold_of[p[0]] != f]
            test = [p for p in seed_idx if fold_of[p[0]] == f]
            w = _solver(xs, yt, prior, whiten)(train)
            hits.append(retrieval_precision(xs @ w, yt, test, csls_k))
        scores[prior] = float(np.mean(hits))
    best = max(scores.values())
    return next(p for p in IDENTITY_PRIORS if scores[p] == best), scores


def retrieval_precision(mapped: np.ndarray, yt: np.ndarray, pairs: Sequence[tuple[int, int]], k: int) -> float:
    """precision@1 of `pairs` given as (row of `mapped`, row of `yt`) indices, several gold targets
    per source allowed; CSLS with `k` neighbours, plain dot product (cosine for unit rows) with k = 0."""
    gold: dict[int, set[int]] = defaultdict(set)
    for i, j in pairs:
        gold[i].add(j)
    queries = sorted(gold)
    q = mapped[queries]
    scores = q @ yt.T
    if k > 0:
        scores = 2 * scores - knn_mean_similarity(q, yt, k)[:, None] - knn_mean_similarity(yt, mapped, k)[None, :]
    return float(np.mean([int(b) in gold[i] for i, b in zip(queries, scores.argmax(axis=1))]))


def _mean_cos(xs: np.ndarray, yt: np.ndarray, w: np.ndarray, pairs: Sequence[tuple[int, int]]) -> float:
    a = xs[[i for i, _ in pairs]] @ w
    b = yt[[j for _, j in pairs]]
    return float((a * b).sum(axis=1).mean())


def mapping_from_arrays(arrays: Mapping[str, Any]) -> CrossLingualMap:
    return CrossLingualMap(
        w=np.asarray(arrays["w"], dtype=np.float32),
        source_mean=np.asarray(arrays["source_mean"], dtype=np.float32),
        target_mean=np.asarray(arrays["target_mean"], dtype=np.float32),
    )


@dataclass(frozen=True)
class ChainedMap:
    """Maps applied one after the other (e.g. a stored normalisation, then a map refitted on its output)."""

    maps: tuple[CrossLingualMap, ...]

    def map_source(self, x: np.ndarray) -> np.ndarray:
        for m in self.maps:
            x = m.map_source(x)
        return x

    def map_target(self, y: np.ndarray) -> np.ndarray:
        for m in self.maps:
            y = m.map_target(y)
        return y

    def into_target_space(self, x: np.ndarray) -> np.ndarray:
        """See `CrossLingualMap.into_target_space`: each map's target normalisation undone, last first."""
        z = self.map_source(x)
        for m in reversed(self.maps):
            z = denormalize(z, m.target_mean)
        return z
