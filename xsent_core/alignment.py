"""Cross-lingual alignment analysis for linguists (CTAM paper, section 4.3 / Table 3).

Embed paired texts of two languages (words or sentences: English and Burmese by
default), measure each pair's cosine distance (eq. 17: 1 - u.v / |u||v|) before
and after the VecMap-style mapping, and project everything to 2-D (UMAP with a
fixed seed; PCA below `MIN_UMAP_POINTS` points, where UMAP's neighbour graph is
meaningless). Results are pandas DataFrames and Plotly figures; no UI code here.

Typical use (the app):

    model = registry.load_model("assets/models/vxlm")
    result = analyse_model(model)                   # the paper's five concepts
    result = analyse_model(model, parse_pairs(text))  # the user's own pairs
    result.table, result.figure, result.warnings

A text is embedded as the mean of its sub-token states at one encoder layer
(the layer the model's static vectors come from), specials excluded, so a single
word gets exactly the kind of vector the mapping was fitted on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .static_vectors import is_lexical
from .text import has_myanmar
from .types import InputError
from .vecmap import unit_rows

MIN_UMAP_POINTS = 15
LANG_NAMES = {"en": "English", "my": "Burmese"}
LANG_COLOURS = {"en": "#1f77b4", "my": "#d62728"}


@dataclass(frozen=True)
class ConceptPair:
    english: str
    burmese: str
    transliteration: str = ""
    category: str = ""
    paper_distance: float | None = None  # cosine distance reported by the paper (Table 3)


# The paper's Table 3. Its "Burmese script" column has ဈေး for market and အပြင်း for
# revolution, which its own text contradicts; the words here follow the paper's
# text and shared/notes/methods.md (ဈေးကွက် "market", တော်လှန်ရေး "revolution").
PAPER_CONCEPTS_SOURCE = "the CTAM paper's five concepts (its Table 3)"
PAPER_CONCEPTS: tuple[ConceptPair, ...] = (
    ConceptPair("democracy", "ဒီမိုကရေစီ", "deimokyeisi", "political", 0.18),
    ConceptPair("technology", "နည်းပညာ", "ni pyinnya", "core", 0.32),
    ConceptPair("market", "ဈေးကွက်", "zei kwet", "core", 0.12),
    ConceptPair("education", "ပညာရေး", "pyinnya yei", "core", 0.15),
    ConceptPair("revolution", "တော်လှန်ရေး", "taw hlan yei", "culture-specific", 0.41),
)


@dataclass(frozen=True)
class AlignmentResult:
    table: Any  # pandas.DataFrame, one row per pair
    points: Any  # pandas.DataFrame, one row per embedded text (x, y per projection)
    figures: Mapping[str, Any]  # "before" and, with a mapping, "after": plotly Figures
    projection: str  # "umap" | "pca"
    seconds: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    mapping_report: Mapping[str, Any] | None = None  # with a user dictionary: precision@1 and sizes
    mapping_check: "MappingCheck | None" = None  # the mapping measured on held-out word pairs

    @property
    def figure(self) -> Any:
        return self.figures.get("after", self.figures.get("before"))


# -- input ---------------------------------------------------------------------------
def parse_pairs(text: str, source: str = "pairs") -> list[ConceptPair]:
    """Pairs from text: one per line, `english<TAB>burmese` (or `,` / `|` between them).

    A line written the other way round (`burmese<TAB>english`, the order of the
    shipped lexicons) is read by script: the column with Burmese script is the
    Burmese side. Blank lines and '#' comments are skipped; InputError names the
    line of a malformed row and refuses input with no pairs.
    """
    return read_pair_lines(text, source)[0]


def read_pair_lines(text: str, source: str = "pairs") -> tuple[list[ConceptPair], int]:
    """`parse_pairs` and how many lines had Burmese in the first column (read swapped)."""
    pairs = []
    swapped = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for sep in ("\t", "|", ","):
            if sep in line:
                cols = [c.strip() for c in line.split(sep)]
                break
        else:
            raise InputError(f"{source}: line {n}: expected 'English<TAB>Burmese', got {line.strip()[:60]!r}")
        if len(cols) < 2 or not cols[0] or not cols[1]:
            raise InputError(f"{source}: line {n}: both an English and a Burmese text are needed")
        english, burmese = cols[0], cols[1]
        if has_myanmar(english) and not has_myanmar(burmese):
            english, burmese = burmese, english
            swapped += 1
        pairs.append(ConceptPair(english, burmese))
    if not pairs:
        raise InputError(f"{source}: no pairs found (empty input)")
    return pairs, swapped


def read_pairs(path: str | Path) -> list[ConceptPair]:
    from .data._io import decode_utf8, read_bytes

    p = Path(path).expanduser()
    return parse_pairs(decode_utf8(read_bytes(p), p), source=str(p))


def _check_pair(i: int, pair: ConceptPair) -> list[str]:
    out = []
    tag = f"pair {i + 1} ({pair.english!r} / {pair.burmese!r})"
    if not has_myanmar(pair.burmese):
        out.append(f"{tag}: the Burmese side has no Burmese script")
    elif any(is_lexical(c) and not has_myanmar(c) for c in pair.burmese):
        out.append(f"{tag}: the Burmese side mixes Burmese and Latin letters; embedded as typed")
    if has_myanmar(pair.english):
        out.append(f"{tag}: the English side contains Burmese script")
    return out


# -- embedding -------------------------------------------------------------------------
def normalise_texts(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """xsent_core.text.normalize each text (Zawgyi -> Unicode); returns (texts, warnings)."""
    from .text import normalize

    out, warnings = [], []
    for t in texts:
        n = normalize(t)
        out.append(n.text)
        if n.converted_from_zawgyi:
            warnings.append(f"{t!r} was Zawgyi-encoded and was converted to Unicode ({n.text!r})")
    return out, warnings


def embed_texts(encoder: Any, texts: Sequence[str], layer: int | None = None, batch_size: int = 32) -> np.ndarray:
    """Mean sub-token state of each text at `layer` (default: top), specials excluded -> [N, H]."""
    import torch

    from .nn import eval_mode, size_chunks

    layer = encoder.info.num_layers if layer is None else layer
    out = np.zeros((len(texts), encoder.info.hidden_size), dtype=np.float32)
    with eval_mode(encoder), torch.inference_mode():
        for chunk in size_chunks([len(t) for t in texts], batch_size):
            enc = encoder.encode_texts([texts[i] for i in chunk], prefix="")
            ids, mask = enc["input_ids"], enc["attention_mask"]
            hidden = encoder.run_layers(encoder.embed_tokens(ids), mask, 0, layer)
            inner = mask.clone()
            inner[:, 0] = 0  # <s>
            lengths = mask.sum(1)
            inner[torch.arange(len(chunk)), lengths - 1] = 0  # </s>
            inner = torch.where(inner.sum(1, keepdim=True) > 0, inner, mask)
            pooled = encoder.mean_pool(hidden, inner)
            out[chunk] = pooled.float().cpu().numpy()
    return out


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cos(a_i, b_i) (eq. 17)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return 1.0 - num / np.maximum(den, 1e-12)


# -- projection -------------------------------------------------------------------------
def project_2d(
    vectors: np.ndarray,
    method: str = "auto",
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int | None = None,
) -> tuple[np.ndarray, str]:
    """2-D coordinates and the method used ("umap" or "pca").

    "auto" = UMAP (umap-learn, cosine metric, fixed `seed`, so results repeat)
    from MIN_UMAP_POINTS points up, PCA below. PCA is centred SVD, signs fixed
    so the largest coordinate of each axis is positive.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected [n, d] vectors, got shape {x.shape}")
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"unknown projection {method!r}; expected auto, umap or pca")
    n = len(x)
    if n == 0:
        return np.zeros((0, 2), np.float32), "pca"
    if method == "pca" or (method == "auto" and n < MIN_UMAP_POINTS):
        return _pca_2d(x), "pca"
    if n < 4:
        raise InputError(f"UMAP needs at least 4 points, got {n}; use the PCA projection")
    from .numba_cache import import_umap

    umap = import_umap()  # its numba kernels compile once per installation, then load from disk
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(n_neighbors, n - 1)),
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        n_jobs=1,  # a fixed seed makes umap-learn single-threaded anyway
        n_epochs=n_epochs,
        init="spectral" if n > n_neighbors + 1 else "random",
    )
    return reducer.fit_transform(x).astype(np.float32), "umap"


def warm_up_umap(seed: int = 0) -> float:
    """Run `project_2d`'s UMAP once on a tiny random input; seconds taken.

    Compiles (or loads from numba's disk cache) every kernel a draw of up to 4,095
    points uses, so a later draw in this process starts at once. Two far-apart
    clusters make the neighbour graph disconnected, which takes umap-learn's
    multi-component layout too. Larger inputs (pynndescent's search) are not covered.
    """
    rng = np.random.default_rng(seed)
    clusters = [rng.normal(loc=centre, size=(MIN_UMAP_POINTS + 5, 16)) for centre in (-10.0, 10.0)]
    t0 = time.perf_counter()
    project_2d(np.concatenate(clusters), "umap", seed=seed, n_epochs=5)
    return time.perf_counter() - t0


def _pca_2d(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(0)
    if len(x) == 1:
        return np.zeros((1, 2), np.float32)
    u, s, _ = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    coords = u[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    for j in range(2):
        if coords[np.argmax(np.abs(coords[:, j])), j] < 0:
            coords[:, j] *= -1
    return coords.astype(np.float32)


# -- figures ----------------------------------------------------------------------------
def alignment_figure(points: Any, projection: str, title: str) -> Any:
    """Scatter coloured by language, grey lines joining each pair, hover text per point."""
    import plotly.graph_objects as go

    fig = go.Figure()
    xs: list[float | None] = []
    ys: list[float | None] = []
    for _, grp in points.groupby("pair", sort=True):
        if len(grp) == 2:
            xs += list(grp["x"]) + [None]
            ys += list(grp["y"]) + [None]
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#aaaaaa", "width": 1}, hoverinfo="skip", name="pair")
    )
    for lang, grp in points.groupby("lang", sort=False):
        fig.add_trace(
            go.Scatter(
                x=grp["x"],
                y=grp["y"],
                mode="markers+text",
                text=grp["text"],
                textposition="top center",
                hovertext=grp["hover"],
                hoverinfo="text",
                marker={"size": 10, "color": LANG_COLOURS.get(lang, "#2ca02c")},
                name=LANG_NAMES.get(lang, lang),
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title=f"{projection.upper()} 1",
        yaxis_title=f"{projection.upper()} 2",
        template="plotly_white",
        legend={"orientation": "h"},
    )
    return fig


def scatter_figure(coords: np.ndarray, langs: Sequence[str], hover: Sequence[str], title: str) -> Any:
    """Large-corpus scatter (no pair lines), one colour per language."""
    import plotly.graph_objects as go

    fig = go.Figure()
    langs = list(langs)
    for lang in dict.fromkeys(langs):
        idx = [i for i, l in enumerate(langs) if l == lang]
        fig.add_trace(
            go.Scattergl(
                x=coords[idx, 0], y=coords[idx, 1], mode="markers", marker={"size": 3},
                hovertext=[hover[i] for i in idx], hoverinfo="text", name=LANG_NAMES.get(lang, lang),
            )
        )
    fig.update_layout(title=title, template="plotly_white")
    return fig


# -- the analysis -------------------------------------------------------------------------
def analyse_pairs(
    pairs: Sequence[ConceptPair],
    encoder: Any,
    mapping: Any = None,
    layer: int | None = None,
    *,
    projection: str = "auto",
    seed: int = 0,
    vocabulary: Sequence[str] | None = None,
    check: MappingCheck | None = None,
) -> AlignmentResult:
    """Cosine table and 2-D maps for English/Burmese pairs.

    `mapping` is a `vecmap.CrossLingualMap` (Burmese -> English space); without one
    only the "before" distances and figure are made. `vocabulary` (e.g. the
    model's static words) adds an in-vocabulary column and a warning for words
    outside it. With `check` (see `check_mapping`) a mapping that does not bring
    held-out translations closer gets no "after" figure, and a warning that says so.
    """
    import pandas as pd

    from .vecmap import clean_word

    if not pairs:
        raise InputError("no pairs to analyse")
    warnings: list[str] = []
    for i, p in enumerate(pairs):
        warnings += _check_pair(i, p)
    english, w1 = normalise_texts([p.english for p in pairs])
    burmese, w2 = normalise_texts([p.burmese for p in pairs])
    warnings += w1 + w2
    for i, (e, b) in enumerate(zip(english, burmese)):
        if not e or not b:
            raise InputError(f"pair {i + 1}: a side is empty after normalisation")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    en_vec = embed_texts(encoder, english, layer)
    my_vec = embed_texts(encoder, burmese, layer)
    seconds["embed"] = time.perf_counter() - t0
    before = cosine_distance(en_vec, my_vec)
    table = pd.DataFrame(
        {
            "english": english,
            "burmese": burmese,
            "transliteration": [p.transliteration for p in pairs],
            "category": [p.category for p in pairs],
            "cosine_distance_before": np.round(before, 4),
        }
    )
    spaces = {"before": (en_vec, my_vec)}
    if mapping is not None:
        # "after" is measured where the English vectors lie, untouched, as "before" is: only the
        # Burmese side moves (centred, rotated, put on English's centre), so `change` is the map's doing
        unrotated = _without_rotation(mapping)
        if unrotated is not None:
            # the shift onto English's centre alone, a reference that isolates the rotation
            table["cosine_distance_shifted"] = np.round(cosine_distance(en_vec, unrotated.into_target_space(my_vec)), 4)
        my_m = mapping.into_target_space(my_vec)
        after = cosine_distance(en_vec, my_m)
        table["cosine_distance_after"] = np.round(after, 4)
        table["change"] = np.round(after - before, 4)
        spaces["after"] = (unit_rows(en_vec), my_m)
    else:
        warnings.append("no mapping given: only distances before mapping are shown")
    if mapping is not None and check is not None and not check.brings_closer:
        del spaces["after"]  # a worse map drawn as "after" would read as progress
        warnings.append(check.sentence().replace("**", "") + " The 'after' plot is not drawn; the table keeps its columns.")
    table["paper_distance"] = [p.paper_distance for p in pairs]
    if vocabulary is not None:
        vocab = set(vocabulary)
        known, outside = [], []
        for e, b in zip(english, burmese):
            missing = [w for w in (e, b) if clean_word(w) not in vocab]
            known.append(not missing)
            outside += missing
        table["in_vocabulary"] = known
        if outside:
            shown = ", ".join(repr(w) for w in outside[:5]) + (", …" if len(outside) > 5 else "")
            warnings.append(
                f"{len(outside)} of {2 * len(pairs)} texts are not in the model's static table ({shown}); "
                "that changes nothing here: every text is embedded alone, the same way, table or not"
            )
    figures = {}
    frames = []
    used = "pca"
    for name, (a, b) in spaces.items():
        t0 = time.perf_counter()
        coords, used = project_2d(np.concatenate([a, b]), projection, seed=seed)
        seconds[f"project_{name}"] = time.perf_counter() - t0
        n = len(pairs)
        pts = pd.DataFrame(
            {
                "text": english + burmese,
                "lang": ["en"] * n + ["my"] * n,
                "pair": list(range(n)) * 2,
                "x": coords[:, 0],
                "y": coords[:, 1],
                "space": name,
            }
        )
        dist = table[f"cosine_distance_{name}"].tolist() * 2
        partner = burmese + english
        pts["hover"] = [
            f"{t} ({LANG_NAMES[l]})<br>pair: {o}<br>cosine distance {name} mapping: {d:.3f}"
            for t, l, o, d in zip(pts["text"], pts["lang"], partner, dist)
        ]
        frames.append(pts)
        figures[name] = alignment_figure(pts, used, f"English-Burmese pairs, {name} mapping ({used.upper()})")
    return AlignmentResult(
        table=table,
        points=pd.concat(frames, ignore_index=True),
        figures=figures,
        projection=used,
        seconds=seconds,
        warnings=tuple(dict.fromkeys(warnings)),
        mapping_check=check,
    )


def _without_rotation(mapping: Any) -> Any:
    """The same map without its final rotation (normalisation and the shift of centres only), or None."""
    from .vecmap import ChainedMap, CrossLingualMap

    def strip(m: Any) -> Any:
        return CrossLingualMap(np.eye(len(m.w), dtype=np.float32), m.source_mean, m.target_mean)

    if isinstance(mapping, CrossLingualMap):
        return strip(mapping)
    if isinstance(mapping, ChainedMap) and mapping.maps:
        return ChainedMap(tuple(mapping.maps[:-1]) + (strip(mapping.maps[-1]),))
    return None


# Pairs no shipped model's mapping was fitted on (the models' seed is my-en.tsv).
CHECK_LEXICON = "{assets}/dictionaries/my-en-cldr.tsv"
SEED_LEXICON = "{assets}/dictionaries/my-en.tsv"


@dataclass(frozen=True)
class MappingCheck:
    """Does a mapping bring translations closer? Measured on held-out word pairs.

    Each word is embedded alone at the layer the tab uses. precision@1: the share
    of Burmese words whose nearest English word (cosine, among the check's English
    words) is their translation, in the space the map was fitted in. Mean cosine
    distances (English vectors as they are, Burmese before and after the map, as
    in the tab's table) are reported too, but they are not the test: the shift
    of every Burmese word onto English's centre lowers distances to all English
    words alike, while the ranking shows whether translations became nearer than
    the other words.
    """

    pairs: int
    precision_before: float
    precision_after: float
    distance_before: float
    distance_after: float
    lexicon: str

    @property
    def brings_closer(self) -> bool:
        return self.precision_after > self.precision_before

    def as_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "precision_at_1_before": round(self.precision_before, 4),
                "precision_at_1_after": round(self.precision_after, 4), "mean_distance_before": round(self.distance_before, 4),
                "mean_distance_after": round(self.distance_after, 4), "lexicon": self.lexicon,
                "brings_closer": self.brings_closer}

    def sentence(self) -> str:
        verdict = "brings translations closer" if self.brings_closer else "does **not** bring translations closer"
        return (f"On {self.pairs} held-out word pairs ({self.lexicon}) the mapping {verdict}: the translation is the "
                f"nearest English word for {self.precision_before:.0%} of Burmese words before and "
                f"{self.precision_after:.0%} after. Mean cosine distance {self.distance_before:.2f} → "
                f"{self.distance_after:.2f}: not the test, since moving Burmese onto English's centre (part of "
                "the map) changes its distance to every English word, translations and the rest alike.")


def check_pairs(path: str | Path | None = None) -> list[tuple[str, str]]:
    """(Burmese, English) pairs of a lexicon file; by default the check lexicon without
    the Burmese words that the seed lexicon (`SEED_LEXICON`) also has, so no checked word was fitted on."""
    from .paths import expand_placeholders
    from .vecmap import read_dictionary

    pairs = read_dictionary(expand_placeholders(str(path or CHECK_LEXICON)))
    if path is None:
        seen = {b for b, _ in read_dictionary(expand_placeholders(SEED_LEXICON))}
        pairs = [(b, e) for b, e in pairs if b not in seen]
    return pairs


def check_mapping(
    encoder: Any, mapping: Any, layer: int | None, pairs: Sequence[tuple[str, str]], lexicon: str = "my-en-cldr.tsv"
) -> MappingCheck:
    """`MappingCheck` of `mapping` (Burmese -> English) on (Burmese, English) `pairs`."""
    from .vecmap import retrieval_precision, unit_rows

    if not pairs:
        raise InputError("no word pairs to check the mapping on")
    burmese, my_vec, english, en_vec = _lexicon_vectors(encoder, pairs, layer)
    b_row, e_row = {w: i for i, w in enumerate(burmese)}, {w: i for i, w in enumerate(english)}
    rows = [(b_row[b], e_row[e]) for b, e in pairs]

    mine, theirs = [i for i, _ in rows], [j for _, j in rows]

    def distance(my: np.ndarray) -> float:  # English vectors as they are, as in the tab's table
        return float(np.mean(cosine_distance(my[mine], en_vec[theirs])))

    # retrieval in the space the map was fitted in (VecMap's own evaluation): plain cosine nearest neighbour
    p0 = retrieval_precision(unit_rows(my_vec), unit_rows(en_vec), rows, 0)
    p1 = retrieval_precision(unit_rows(mapping.map_source(my_vec)), unit_rows(mapping.map_target(en_vec)), rows, 0)
    return MappingCheck(len(burmese), p0, p1, distance(my_vec), distance(mapping.into_target_space(my_vec)), lexicon)


def _lexicon_vectors(
    encoder: Any, pairs: Sequence[tuple[str, str]], layer: int | None
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """The distinct Burmese and English words of (Burmese, English) `pairs`, each embedded alone at `layer`."""
    burmese = list(dict.fromkeys(b for b, _ in pairs))
    english = list(dict.fromkeys(e for _, e in pairs))
    return burmese, embed_texts(encoder, burmese, layer), english, embed_texts(encoder, english, layer)


def fit_lexicon_map(encoder: Any, layer: int | None, pairs: Sequence[tuple[str, str]]) -> Any:
    """A Burmese -> English map for a bare encoder: VecMap normalisation + Procrustes with the
    cross-validated identity prior, fitted on (Burmese, English) `pairs` embedded alone at `layer`.

    Returns the `vecmap.MappingResult`; its `mapping` applies to raw vectors as a model's does.
    """
    from .vecmap import fit_mapping

    burmese, my_vec, english, en_vec = _lexicon_vectors(encoder, pairs, layer)
    return fit_mapping(burmese, my_vec, english, en_vec, list(pairs), iterations=0)


def analyse_model(
    model: Any,
    pairs: Sequence[ConceptPair] = PAPER_CONCEPTS,
    dictionary: str | Path | None = None,
    holdout: float = 0.3,
    check_lexicon: str | Path | None = CHECK_LEXICON,
    **kwargs: Any,
) -> AlignmentResult:
    """`analyse_pairs` with a trained `vxlm`/`ctam` model's encoder, map, layer and vocabulary.

    With `dictionary` (a TSV file of word pairs), the map is refitted from the
    model's static table with that dictionary (the model is not changed) and
    `mapping_report` carries precision@1 on its held-out `holdout` share.
    The map is checked on `check_lexicon` (None: not checked; see `check_mapping`).
    """
    from dataclasses import replace

    from .vecmap import read_dictionary

    mapping, report = model.mapping(), None
    if dictionary is not None:
        fitted = model.fit_user_mapping(read_dictionary(dictionary), holdout=holdout)
        mapping, report = fitted.mapping, fitted.summary()
    layer = model.config.static_layer
    check = None
    if check_lexicon is not None:
        check = check_mapping(model.encoder, mapping, layer, check_pairs(check_lexicon), Path(str(check_lexicon)).name)
    result = analyse_pairs(
        pairs,
        model.encoder,
        mapping,
        layer,
        vocabulary=model.static_words,
        check=check,
        **kwargs,
    )
    if report is not None:
        extra = tuple(report.get("warnings", ()))
        result = replace(result, mapping_report=report, warnings=tuple(dict.fromkeys(result.warnings + extra)))
    return result


def format_table(table: Any) -> str:
    """Plain-text table for terminals and logs."""
    return table.to_string(index=False)
