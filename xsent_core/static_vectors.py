"""Static word vectors from a contextual encoder (VXLM, seed 002 eq. 1).

A word's static vector is the mean of its sub-token hidden states at one
encoder layer, averaged over all its occurrences in a corpus. Words come from
`xsent_core.text` (burmesenlp's segmenter for Burmese, whitespace/punctuation
elsewhere); the vocabulary keeps lexical words only (at least one letter), in
their `vecmap.clean_word` form (NFC, lower-cased).
"""
from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .nn import eval_mode, size_chunks
from .vecmap import clean_word


def is_lexical(word: str) -> bool:
    """A word worth a static vector: it has a letter (Burmese letters are category Lo)."""
    return any(unicodedata.category(c).startswith("L") for c in word)


def corpus_words(texts: Iterable[str], lang: str | None = None) -> list[list[str]]:
    """Words of each text after normalisation (Zawgyi converted), as the models see them."""
    from .text import tokenize_for_model

    return [tokenize_for_model(t, lang=lang)[2] for t in texts]


def word_token_spans(word_index: Sequence[int], n_words: int, length: int) -> list[tuple[int, int]]:
    """Sub-token span [start, end) of each word from the first-sub-token index.

    A word runs up to the next word's first sub-token; the last word up to the
    closing special token at `length - 1`. A word with no sub-token of its own
    (the encoder points it at the previous sub-token) gets that one sub-token.
    """
    starts = [int(i) for i in word_index[:n_words]]
    spans = []
    for w, s in enumerate(starts):
        e = starts[w + 1] if w + 1 < n_words else length - 1
        spans.append((s, max(e, s + 1)))
    return spans


def span_mean_weights(spans: Sequence[tuple[int, int]] | torch.Tensor, length: int,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """[W, length] float32 rows that average positions [s, e) of each span (clipped to the row; a
    span of no width gets its start). Tensor comparisons, not a Python loop per word: VXLM's
    collate and static pooling build one per row of every batch."""
    bounds = torch.as_tensor(spans, dtype=torch.long).reshape(-1, 2).to(device)
    start = bounds[:, 0].clamp(max=length - 1)
    end = torch.maximum(bounds[:, 1], start + 1).clamp(max=length)
    pos = torch.arange(length, device=bounds.device)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return inside.float() / (end - start).clamp_min(1).float()[:, None]


def pool_words(states: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Mean of `states` [T, H] over each span -> [W, H] (float32)."""
    if not len(spans):
        return states.new_zeros((0, states.shape[-1]), dtype=torch.float32)
    return span_mean_weights(spans, states.shape[0], states.device) @ states.float()


@dataclass(frozen=True)
class StaticVectors:
    """A static vocabulary: words (most frequent first), vectors [V, H], counts."""

    words: tuple[str, ...]
    vectors: np.ndarray
    counts: tuple[int, ...]
    layer: int

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def get(self, word: str) -> np.ndarray | None:
        i = self.index().get(clean_word(word))
        return None if i is None else self.vectors[i]

    def top(self, n: int | None) -> "StaticVectors":
        if n is None or n >= len(self):
            return self
        return StaticVectors(self.words[:n], self.vectors[:n], self.counts[:n], self.layer)


class StaticAccumulator:
    """Sums word vectors over a corpus; `result()` averages them."""

    def __init__(self, dim: int, layer: int) -> None:
        self.dim = dim
        self.layer = layer
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, words: Sequence[str], vectors: Any) -> None:
        vecs = np.asarray(vectors.float().cpu().numpy() if isinstance(vectors, torch.Tensor) else vectors, dtype=np.float32)
        for word, vec in zip(words, vecs):
            key = clean_word(word)
            if not is_lexical(key):
                continue
            if key in self._sums:
                self._sums[key] += vec
            else:
                self._sums[key] = vec.astype(np.float32).copy()
            self._counts[key] += 1

    def result(self, min_count: int = 1, max_words: int | None = None) -> StaticVectors:
        keys = [k for k, c in self._counts.items() if c >= min_count]
        keys.sort(key=lambda k: (-self._counts[k], k))  # most frequent first, ties by spelling
        if max_words is not None:
            keys = keys[:max_words]
        vectors = np.stack([self._sums[k] / self._counts[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)
        return StaticVectors(tuple(keys), vectors.astype(np.float32), tuple(self._counts[k] for k in keys), self.layer)


@torch.inference_mode()
def encode_word_states(
    encoder: Any,
    sentences: Sequence[Sequence[str]],
    layer: int,
    *,
    batch_size: int = 32,
    max_length: int = 128,
) -> list[torch.Tensor]:
    """Per sentence, each kept word's mean sub-token state at `layer` ([W_i, H], float32)."""
    out: list[torch.Tensor | None] = [None] * len(sentences)
    with eval_mode(encoder):  # static vectors must not depend on a dropout draw
        for chunk in size_chunks([sum(len(w) for w in s) for s in sentences], batch_size):
            wb = encoder.encode_words([list(sentences[i]) for i in chunk], max_length=max_length)
            if wb.input_ids.numel() == 0:
                for i in chunk:
                    out[i] = torch.zeros((0, encoder.info.hidden_size))
                continue
            hidden = encoder.run_layers(encoder.embed_tokens(wb.input_ids), wb.attention_mask, 0, layer)
            lengths = wb.attention_mask.sum(1).tolist()
            for row, i in enumerate(chunk):
                spans = word_token_spans(wb.word_index[row].tolist(), wb.kept_words[row], int(lengths[row]))
                out[i] = pool_words(hidden[row], spans).cpu()
    return [t if t is not None else torch.zeros((0, encoder.info.hidden_size)) for t in out]


def build_static_vectors(
    encoder: Any,
    sentences: Sequence[Sequence[str]],
    layer: int,
    *,
    min_count: int = 1,
    max_words: int | None = None,
    batch_size: int = 32,
    max_length: int = 128,
) -> StaticVectors:
    """Static vectors of every lexical word in `sentences` (lists of words) at `layer`."""
    acc = StaticAccumulator(encoder.info.hidden_size, layer)
    states = encode_word_states(encoder, sentences, layer, batch_size=batch_size, max_length=max_length)
    for words, vecs in zip(sentences, states):
        acc.add(list(words)[: len(vecs)], vecs)
    return acc.result(min_count=min_count, max_words=max_words)


def embed_words_alone(encoder: Any, words: Sequence[str], layer: int, batch_size: int = 64) -> np.ndarray:
    """Each word encoded on its own (no context): the static vector of an out-of-corpus word."""
    states = encode_word_states(encoder, [[w] for w in words], layer, batch_size=batch_size)
    return np.stack([s[0].numpy() if len(s) else np.zeros(encoder.info.hidden_size, np.float32) for s in states]) if words else np.zeros((0, encoder.info.hidden_size), np.float32)
