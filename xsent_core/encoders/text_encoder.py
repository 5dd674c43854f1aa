"""`TextEncoder`: one interface over any BERT/XLM-R-style Hugging Face encoder.

Methods train only the top layers, so the encoder exposes its pieces:
`embed_tokens` (embeddings block) and `run_layers(hidden, mask, start, stop)`
(encoder layers [start, stop)); running them back to back equals the full
model. Word-level helpers map each word to its first sub-token.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..nn import eval_mode, size_chunks


@dataclass(frozen=True)
class EncoderInfo:
    """What a checkpoint must agree with: `fingerprint` refuses heads trained on another encoder."""

    spec: str
    hidden_size: int
    num_layers: int
    vocab_size: int
    max_length: int
    fingerprint: str


@dataclass
class WordBatch:
    """Sub-token batch plus, per word, the position of its first sub-token.

    `word_index`/`word_mask` are [B, W] (W = most words in a row); padding and
    words cut by truncation have index 0 and mask False. `kept_words[i]` is
    how many leading words of row i fit (a word counts when its first
    sub-token fits).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_index: torch.Tensor
    word_mask: torch.Tensor
    kept_words: list[int]


def encoder_fingerprint(spec: str, config: Any) -> str:
    """Short stable hash of the spec and architecture sizes."""
    facts = {
        "spec": spec,
        "model_type": getattr(config, "model_type", ""),
        "hidden_size": getattr(config, "hidden_size", None),
        "num_hidden_layers": getattr(config, "num_hidden_layers", None),
        "num_attention_heads": getattr(config, "num_attention_heads", None),
        "intermediate_size": getattr(config, "intermediate_size", None),
        "vocab_size": getattr(config, "vocab_size", None),
        "max_position_embeddings": getattr(config, "max_position_embeddings", None),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


class TextEncoder(torch.nn.Module):
    """A HF encoder with `.embeddings` and `.encoder.layer`, plus its tokenizer."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, spec: str) -> None:
        super().__init__()
        if not hasattr(model, "embeddings") or not hasattr(getattr(model, "encoder", None), "layer"):
            raise TypeError(
                f"encoder {spec!r} is a {type(model).__name__}, not a BERT-like model with .embeddings and .encoder.layer"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.onnx_layers: Any = None  # inference fast path (encoders.onnx_layers.attach), None = torch only
        self.train(model.training)  # the wrapper's mode follows the wrapped model's
        config = model.config
        self.info = EncoderInfo(
            spec=spec,
            hidden_size=int(config.hidden_size),
            num_layers=len(model.encoder.layer),
            vocab_size=int(config.vocab_size),
            max_length=self._usable_length(model, tokenizer),
            fingerprint=encoder_fingerprint(spec, config),
        )

    @staticmethod
    def _usable_length(model: torch.nn.Module, tokenizer: Any) -> int:
        """Sub-tokens per input: position table size, less RoBERTa's padding offset."""
        n = int(model.config.max_position_embeddings)
        padding_idx = getattr(model.embeddings, "padding_idx", None)
        if padding_idx is not None:  # RoBERTa-style positions start at padding_idx + 1
            n -= int(padding_idx) + 1
        tok_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < n:
            n = tok_max
        return n

    @property
    def layers(self) -> torch.nn.ModuleList:
        return self.model.encoder.layer

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _limit(self, max_length: int | None) -> int:
        return min(max_length or self.info.max_length, self.info.max_length)

    # -- tokenising -----------------------------------------------------------
    def encode_texts(
        self, texts: Sequence[str], prefix: str = "", max_length: int | None = None
    ) -> dict[str, Any]:
        """Padded `input_ids`/`attention_mask` (truncated to `max_length`) and per-row `truncated` flags."""
        limit = self._limit(max_length)
        full = [prefix + t for t in texts]
        if not full:
            empty = torch.zeros((0, 0), dtype=torch.long)
            return {"input_ids": empty, "attention_mask": empty.clone(), "truncated": []}
        enc = self.tokenizer(full, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "truncated": self._truncated(enc, full, limit, split=False),
        }

    def _truncated(self, enc: Any, inputs: Sequence[Any], limit: int, split: bool) -> list[bool]:
        encodings = getattr(enc, "encodings", None)
        if encodings:  # fast tokenizers keep what truncation dropped
            return [len(e.overflowing) > 0 for e in encodings]
        lengths = self.tokenizer(list(inputs), is_split_into_words=split, verbose=False)["input_ids"]
        return [len(ids) > limit for ids in lengths]

    def encode_words(
        self,
        words: Sequence[Sequence[str]],
        max_length: int | None = None,
        separators: Sequence[Sequence[str]] | None = None,
    ) -> WordBatch:
        """Tokenise words; each word points at its first sub-token.

        Without `separators` each word is tokenised on its own (a word-start
        marker per word). With them, row i is tokenised as running text,
        `separators[i][w] + words[i][w]` joined ("" or " " before each word, as
        in the user's text), and words are found by character offsets: the
        encoder reads what it was pretrained on, and Burmese, written without
        spaces, costs ~26% fewer sub-tokens. A word that yields no sub-token of
        its own (empty, only characters the normaliser drops, or inside a
        sub-token that starts in the word before) points at the sub-token
        covering its start, else the previous one.
        """
        limit = self._limit(max_length)
        rows = [list(w) for w in words]
        width = max((len(r) for r in rows), default=0)
        word_index = torch.zeros((len(rows), width), dtype=torch.long)
        word_mask = torch.zeros((len(rows), width), dtype=torch.bool)
        if not rows:
            empty = torch.zeros((0, 0), dtype=torch.long)
            return WordBatch(empty, empty.clone(), word_index, word_mask, [])
        if separators is None:
            enc = self.tokenizer(
                rows, is_split_into_words=True, padding=True, truncation=True, max_length=limit, return_tensors="pt"
            )
            truncated = self._truncated(enc, rows, limit, split=True)
            firsts = [_first_subtokens(enc.word_ids(i)) for i in range(len(rows))]
        else:
            if len(separators) != len(rows) or any(len(s) != len(r) for s, r in zip(separators, rows)):
                raise ValueError("separators must give one string per word")
            texts, starts = zip(*(join_words(r, s) for r, s in zip(rows, separators)))
            enc = self.tokenizer(
                list(texts), padding=True, truncation=True, max_length=limit,
                return_offsets_mapping=True, return_tensors="pt",
            )
            truncated = self._truncated(enc, texts, limit, split=False)
            firsts = [
                _first_subtokens_by_offset(enc["offset_mapping"][i].tolist(), enc["attention_mask"][i].tolist(),
                                           starts[i], [len(w) for w in rows[i]])
                for i in range(len(rows))
            ]
        kept_words = []
        for i, row in enumerate(rows):
            first, last = firsts[i]
            kept = (max(first) + 1 if first else 0) if truncated[i] else len(row)
            previous = 0  # the start token when the first words are empty
            for w in range(kept):
                if w in first:
                    word_index[i, w] = first[w]
                    previous = last[w]
                else:
                    word_index[i, w] = previous
                word_mask[i, w] = True
            kept_words.append(kept)
        return WordBatch(enc["input_ids"], enc["attention_mask"], word_index, word_mask, kept_words)

    # -- running ----------------------------------------------------------------
    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Output of the embeddings block, [B, T, H]."""
        return self.model.embeddings(input_ids=input_ids.to(self.device))

    def _layer_mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        """The mask the model itself would hand its layers (format depends on attention backend)."""
        mask = attention_mask.to(device=hidden.device, dtype=torch.long)
        try:
            from transformers.masking_utils import create_bidirectional_mask
        except ImportError:  # transformers 4.x: additive [B, 1, 1, T] mask
            return self.model.get_extended_attention_mask(mask, mask.shape, dtype=hidden.dtype)
        return create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=mask)

    def run_layers(self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Run encoder layers [start, stop) on `hidden` ([B, T, H]); padding is masked."""
        if not 0 <= start <= stop <= self.info.num_layers:
            raise ValueError(f"layer range [{start}, {stop}) outside [0, {self.info.num_layers}]")
        if start == stop:
            return hidden
        hidden = hidden.to(self.device)
        if (
            self.onnx_layers is not None and not self.training and not torch.is_grad_enabled()
            and hidden.device.type == "cpu" and hidden.dtype == torch.float32
        ):
            out = self.onnx_layers.run(hidden, attention_mask, start, stop)
            if out is not None:
                return out
        mask = self._layer_mask(hidden, attention_mask)
        for layer in self.layers[start:stop]:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, stop: int | None = None) -> torch.Tensor:
        """Hidden states after layer `stop` (default: the last)."""
        stop = self.info.num_layers if stop is None else stop
        return self.run_layers(self.embed_tokens(input_ids), attention_mask, 0, stop)

    @staticmethod
    def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean over real (unmasked) tokens, [B, H]."""
        mask = attention_mask.to(hidden.device, hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def embed_sentences(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        prefix: str = "query: ",
        layer: int | None = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """Mean-pooled sentence vectors [N, H] (float32), in input order.

        Batches are formed by token length to cut padding; runs in eval mode.
        """
        out = np.zeros((len(texts), self.info.hidden_size), dtype=np.float32)
        if not len(texts):
            return out
        ids = self.tokenizer(
            [prefix + t for t in texts], truncation=True, max_length=self.info.max_length
        )["input_ids"]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with eval_mode(self), torch.inference_mode():
            for chunk in size_chunks([len(x) for x in ids], batch_size, largest_first=True):
                width = max(len(ids[i]) for i in chunk)
                batch = torch.full((len(chunk), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    batch[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                hidden = self.forward(batch, mask, stop=layer)
                pooled = self.mean_pool(hidden, mask)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[chunk] = pooled.float().cpu().numpy()
        return out

    # -- training helpers --------------------------------------------------------
    def train(self, mode: bool = True) -> "TextEncoder":
        if not mode and not self.training and not self.model.training and not getattr(self, "_lora", False):
            return self  # already in eval (modes are set from the top): every predict asks again, a full walk costs ~2 ms
        super().train(mode)
        if getattr(self, "_lora", False):
            from .lora import set_merged

            # merged adapters predict at plain-model speed; training needs them apart
            set_merged(self.model, not mode)
        return self

    def add_lora(self, rank: int, alpha: float, dropout: float, from_layer: int = 0) -> None:
        """LoRA adapters on the attention and feed-forward projections of layers >= `from_layer`; all else frozen."""
        from .lora import add_lora, guard_loading

        if getattr(self, "_lora", False):
            raise ValueError("this encoder already has LoRA adapters")
        if not 0 <= from_layer < self.info.num_layers:
            raise ValueError(f"lora_from_layer={from_layer} outside [0, {self.info.num_layers - 1}]")
        add_lora(self.model, rank, alpha, dropout, layers=range(from_layer, self.info.num_layers))
        self.onnx_layers = None  # its graphs hold the layers without adapters
        self._lora = True
        guard_loading(self, self.model)
        self.train(self.training)

    def freeze(self, below_layer: int) -> None:
        """Train only layers >= `below_layer`: embeddings, lower layers (and any pooler) get requires_grad False."""
        if not 0 <= below_layer <= self.info.num_layers:
            raise ValueError(f"below_layer={below_layer} outside [0, {self.info.num_layers}]")
        self.model.requires_grad_(False)
        for layer in self.layers[below_layer:]:
            layer.requires_grad_(True)

    def trainable_layer_prefixes(self, from_layer: int) -> list[str]:
        """Keys prefixes in `self.state_dict()` of layers >= `from_layer` (e.g. 'model.encoder.layer.8.')."""
        if not 0 <= from_layer <= self.info.num_layers:
            raise ValueError(f"from_layer={from_layer} outside [0, {self.info.num_layers}]")
        layers = self.layers
        name = next(n for n, m in self.named_modules() if m is layers)
        return [f"{name}.{i}." for i in range(from_layer, self.info.num_layers)]


def _first_subtokens(word_ids: Sequence[int | None]) -> tuple[dict[int, int], dict[int, int]]:
    """Per word id, its first and last sub-token position (words with none are absent)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for pos, wid in enumerate(word_ids):
        if wid is not None:
            first.setdefault(wid, pos)
            last[wid] = pos
    return first, last


def join_words(words: Sequence[str], separators: Sequence[str]) -> tuple[str, list[int]]:
    """The running text of `words` (each preceded by its separator) and each word's start offset in it."""
    parts: list[str] = []
    starts: list[int] = []
    at = 0
    for sep, word in zip(separators, words):
        parts.append(sep)
        at += len(sep)
        starts.append(at)
        parts.append(word)
        at += len(word)
    return "".join(parts), starts


def _first_subtokens_by_offset(
    offsets: Sequence[Sequence[int]],
    attention: Sequence[int],
    starts: Sequence[int],
    lengths: Sequence[int],
) -> tuple[dict[int, int], dict[int, int]]:
    """Like `_first_subtokens`, from character offsets: a word's sub-tokens are those whose
    characters overlap it; a word inside a sub-token that began in the word before gets that
    sub-token as its first and last. Special tokens and padding cover no characters: fast
    tokenizers give them (0, 0), so they never overlap a word."""
    tokens = [(pos, s, e) for pos, (s, e) in enumerate(offsets) if attention[pos] and e > s]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    t = 0
    for w, (start, n) in enumerate(zip(starts, lengths)):
        end = start + n
        if n == 0:
            continue
        while t < len(tokens) and tokens[t][2] <= start:  # sub-tokens that end before this word
            t += 1
        u = t
        while u < len(tokens) and tokens[u][1] < end:
            first.setdefault(w, tokens[u][0])
            last[w] = tokens[u][0]
            u += 1
    return first, last

