"""Pieces shared by the encoder-based methods: word splitting with offsets into
the user's text, cached frozen-encoder states, padding."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Sequence

import torch

from ..nn import eval_mode, size_chunks
from ..types import Example

# Longest input the predict paths accept before truncating (characters).
MAX_CHARS = 20_000


@dataclass(frozen=True)
class Words:
    """Words of one input with their spans in the ORIGINAL text (code points)."""

    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    warnings: tuple[str, ...] = ()
    # per word, " " when the original has whitespace before it, else "" (what
    # `TextEncoder.encode_words(separators=...)` joins the words with)
    separators: tuple[str, ...] = ()


def words_of(example: Example, max_chars: int = MAX_CHARS) -> Words:
    """Pre-tokenised rows keep their tokens; raw text is normalised then split."""
    if example.tokens is not None and example.token_offsets is not None:
        offsets = tuple(tuple(s) for s in example.token_offsets)
        return Words(tuple(example.tokens), offsets, (), word_separators(example.text, offsets))  # type: ignore[arg-type]
    from ..text import tokenize_for_model

    normalized, spans, words = tokenize_for_model(example.text, lang=example.lang, max_chars=max_chars)
    spans = tuple(tuple(s) for s in spans)
    return Words(tuple(words), spans, tuple(normalized.warnings), word_separators(example.text, spans))  # type: ignore[arg-type]


def word_separators(text: str, spans: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    """" " before each word that whitespace precedes in `text` (not the first), else ""."""
    out, previous_end = [], None
    for start, end in spans:
        gap = text[previous_end:start] if previous_end is not None else ""
        out.append(" " if any(ch.isspace() for ch in gap) else "")
        previous_end = end
    return tuple(out)


def normalized_text(example: Example, max_chars: int = MAX_CHARS) -> tuple[str, tuple[str, ...]]:
    """The text a sentence-level model reads, plus what normalisation changed."""
    from ..text import normalize

    n = normalize(example.text, max_chars=max_chars)
    return n.text, tuple(n.warnings)


def length_chunks(
    encoder: Any, rows: Sequence[Any], batch_size: int, *, split: bool = False, prefix: str = ""
) -> list[list[int]]:
    """Indices in chunks of `batch_size`, rows with the most sub-tokens first: a chunk of like lengths pads little.

    `rows` are texts, or word lists with `split`, counted as the encoder will
    tokenise them. Sub-tokens rather than characters matter for mixed scripts:
    a Burmese character carries more of a sub-token than a Latin one (on 668
    French + Burmese rows: 33,088 padded sub-tokens instead of 42,448). Rows
    that fit one chunk are not tokenised for this (one sentence: the hot path);
    without an `encoder` (an image-only model) rows are ordered by `len`.
    Callers put each result back at its index, so the output keeps the input order.
    """
    size = max(1, batch_size)
    if len(rows) <= size:
        return [list(range(len(rows)))] if rows else []
    if encoder is None:
        sizes = [len(r) for r in rows]
    else:
        inputs = [list(r) or [""] for r in rows] if split else [prefix + r for r in rows]
        ids = encoder.tokenizer(inputs, is_split_into_words=split, truncation=True, max_length=encoder.info.max_length)
        sizes = [len(x) for x in ids["input_ids"]]
    return size_chunks(sizes, size, largest_first=True)


def pad_stack(tensors: Sequence[torch.Tensor], value: float = 0.0) -> torch.Tensor:
    """Right-pad tensors of shape [T, ...] to one [B, Tmax, ...] tensor."""
    return torch.nn.utils.rnn.pad_sequence(list(tensors), batch_first=True, padding_value=value)


class FrozenStateCache:
    """Frozen lower-layer results kept across calls and across models that share the same
    frozen layers (benchmarks, ablations, distillation teachers), so each input runs the
    frozen layers once. A method keys each result by what decides it (encoder
    fingerprint, first live layer, the input); `fill` computes only what is missing."""

    def __init__(self) -> None:
        self._store: dict[Hashable, Any] = {}

    def __len__(self) -> int:
        return len(self._store)

    def fill(self, keys: Sequence[Hashable], compute: Callable[[list[Hashable]], Iterable[Any]]) -> list[Any]:
        """The result for each key; `compute(missing)` gives one result per missing key, in order."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._store))
        if missing:
            values = list(compute(missing))
            if len(values) != len(missing):
                raise ValueError(f"computed {len(values)} frozen states for {len(missing)} inputs")
            self._store.update(zip(missing, values))
        return [self._store[k] for k in keys]


@torch.inference_mode()
def frozen_states(
    encoder: Any,
    ids: Sequence[torch.Tensor],
    stop_layer: int,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float16,
) -> list[torch.Tensor]:
    """Hidden states after the frozen layers [0, stop_layer), one [T, H] per input.

    Computed once per dataset so each epoch only runs the trainable top layers;
    kept in fp16 to halve memory (the top layers compute in fp32).
    """
    device = next(encoder.parameters()).device
    out: list[torch.Tensor | None] = [None] * len(ids)
    # cached states must not carry one epoch's dropout mask forever
    with eval_mode(encoder):
        for chunk in size_chunks([len(i) for i in ids], batch_size):
            batch_ids = pad_stack([ids[i] for i in chunk], value=encoder.tokenizer.pad_token_id).to(device)
            mask = pad_stack([torch.ones_like(ids[i]) for i in chunk]).to(device)
            hidden = encoder.run_layers(encoder.embed_tokens(batch_ids), mask, 0, stop_layer)
            for row, i in enumerate(chunk):
                out[i] = hidden[row, : len(ids[i])].to("cpu", dtype).clone()
    return [t for t in out if t is not None]


def upper_states(encoder: Any, lower: torch.Tensor, mask: torch.Tensor, start_layer: int) -> torch.Tensor:
    """Run the trainable layers on cached lower states (fp32)."""
    return encoder.run_layers(lower.float(), mask, start_layer, encoder.info.num_layers)


def full_states(encoder: Any, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return encoder.run_layers(encoder.embed_tokens(input_ids), mask, 0, encoder.info.num_layers)
