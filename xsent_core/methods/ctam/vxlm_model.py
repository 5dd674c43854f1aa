"""`vxlm`: sentence sentiment from contextual word states gated with mapped static vectors.

Per word w of a sentence (seed 002, section 3.1):
- h_ctx: mean of w's sub-token states at the encoder's top layer (trainable top layers);
- h_vec: w's static vector (eq. 1, from a corpus, or from this sentence when w is
  not in the stored table) mapped into the English space by the VecMap-style map
  (`xsent_core.vecmap`), unit length, times a learned scale;
- g = sigmoid(W_g [h_ctx ; h_vec] + b_g), fused = g * h_ctx + (1 - g) * h_vec;
the sentence is the mean of the fused word vectors, classified by a linear head.

The static table (words, mapped vectors) and the map are buffers saved with the
weights, so a loaded model needs neither the corpus nor the dictionary. It is
built by `build_static` (called by `prepare` when the model has none yet) from the
training sentences (source side, e.g. Burmese) and `config.target_corpus` (English).

In the zero-resource setting (`config.setting`) only English labels train the head;
Burmese rows feed the static table, so the map carries the English classifier over.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...adaptation import adapt_encoder, first_live_layer
from ...config import replace_config
from ...encoders.text_encoder import join_words
from ...evaluation import flat_sentence_metrics, prediction_report
from ...imbalance import check_class_weighting, class_counts, imbalanced_cross_entropy
from ...nn import GatedFusion, masked_mean
from ...paths import expand_placeholders
from ...static_vectors import StaticAccumulator, is_lexical, pool_words, span_mean_weights, word_token_spans
from ...text import has_myanmar
from ...types import SENTIMENT_LABELS, Example, InputError, Prediction, XsentError
from ...vecmap import (
    clean_word,
    fit_mapping,
    normalize_embeddings,
    orient_pairs,
    read_dictionary,
    split_dictionary,
)
from ..base import Method
from ..panels import TokenScores, ValueSpread, panel_dict
from ..common import length_chunks, pad_stack, upper_states, words_of
from .config import SETTINGS, WORD_READINGS, VxlmConfig

VEC_SCALE_INIT = 6.0  # typical length of the builtin encoder's top-layer word states
MAX_PREDICT_WORDS = 2000  # words per input the predict path reads (the encoder stops earlier)


def _encode_strings(words: Sequence[str]) -> torch.Tensor:
    data = "\n".join(words).encode("utf-8")
    return torch.tensor(list(data), dtype=torch.uint8)


def _decode_strings(buf: torch.Tensor) -> list[str]:
    if buf.numel() == 0:
        return []
    return bytes(buf.cpu().tolist()).decode("utf-8").split("\n")


def _torch_normalize(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """vecmap.normalize_embeddings with a stored centre, in torch."""
    x = F.normalize(x.float(), dim=-1, eps=1e-8)
    return F.normalize(x - mean.float(), dim=-1, eps=1e-8)


@dataclass
class _Rows:
    """Encoder outputs for a list of word lists (one entry per row)."""

    ids: list[torch.Tensor]  # [T]
    lower: list[torch.Tensor]  # [T, H] at the first adapted layer (`live_layer`)
    raw_static: list[torch.Tensor]  # [W, H] word means at static_layer
    spans: list[list[tuple[int, int]]]  # sub-token span of each kept word
    kept: list[int]


class VxlmMethod(Method):
    name = "vxlm"
    config_cls = VxlmConfig
    task = "sentence"
    shows = "gate heatmap + per-dimension histogram"
    alignment_map = True
    averageable = True  # the gate and the static map work per encoder dimension; the head is linear

    def __init__(self, config: VxlmConfig, encoder: Any) -> None:
        super().__init__(config)
        layers = encoder.info.num_layers
        live = first_live_layer(config)
        if not 0 < config.static_layer <= live <= layers:
            raise XsentError(
                f"{self.name}: need 0 < static_layer ({config.static_layer}) <= first adapted layer ({live}: "
                f"train_from_layer with top-k, lora_from_layer with lora; adapt={config.adapt!r}) <= encoder layers "
                f"({layers}): static vectors come from layers training leaves unchanged"
            )
        if config.setting not in SETTINGS:
            raise XsentError(f"{self.name}: setting={config.setting!r}: choose one of {', '.join(SETTINGS)}")
        if config.tokenize_words_as not in WORD_READINGS:
            raise XsentError(f"{self.name}: tokenize_words_as={config.tokenize_words_as!r}: "
                             f"choose one of {', '.join(WORD_READINGS)}")
        if config.tokenize_words_as == "text" and not getattr(encoder.tokenizer, "is_fast", False):
            raise XsentError(f"{self.name}: tokenize_words_as='text' finds words by character offsets, "
                             "which needs a fast (Rust) tokenizer; this encoder's is slow: use 'separate'")
        if config.dim != encoder.info.hidden_size:
            raise XsentError(
                f"{self.name}: config dim {config.dim} does not match the encoder's hidden size {encoder.info.hidden_size}"
            )
        self.encoder = encoder
        self.live_layer = adapt_encoder(encoder, config)  # layers below it are cached
        dim = encoder.info.hidden_size
        self.gate = GatedFusion(dim, config.gate_bias_init)
        self.vec_scale = torch.nn.Parameter(torch.tensor(VEC_SCALE_INIT))
        self.dropout = torch.nn.Dropout(config.dropout)
        self.head = torch.nn.Linear(self.feature_dim(), len(SENTIMENT_LABELS))
        self._alloc_static(config.vocab_size, config.vocab_bytes)
        self.register_buffer("map_w", torch.eye(dim))
        self.register_buffer("map_source_mean", torch.zeros(dim))
        self.register_buffer("map_target_mean", torch.zeros(dim))
        self._lookup: dict[str, int] | None = None
        self.static_report: dict[str, Any] = {}
        check_class_weighting(config.class_weighting)
        # training-label counts for the imbalance options (`count_labels`); training-time only
        self.register_buffer("class_counts", torch.zeros(len(SENTIMENT_LABELS)), persistent=False)

    def feature_dim(self) -> int:
        return self.encoder.info.hidden_size

    def _alloc_static(self, rows: int, nbytes: int) -> None:
        dim = self.encoder.info.hidden_size
        self.register_buffer("static_table", torch.zeros(rows, dim))
        self.register_buffer("static_vocab", torch.zeros(nbytes, dtype=torch.uint8))
        self.register_buffer("static_source", torch.zeros(rows, dtype=torch.uint8))

    @classmethod
    def create(cls, config: VxlmConfig, device: Any = "cpu") -> "VxlmMethod":
        from ...encoders.registry import load_text_encoder

        encoder = load_text_encoder(config.encoder, device=device)
        if config.dim != encoder.info.hidden_size and config.vocab_size == 0:
            config = replace_config(config, dim=encoder.info.hidden_size)
        return cls(config, encoder).to(device)

    def encoder_fingerprint(self) -> str:
        return self.encoder.info.fingerprint

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._lookup = None  # the vocabulary bytes may have changed
        return out

    # -- the static table ---------------------------------------------------------
    @property
    def static_words(self) -> list[str]:
        return _decode_strings(self.static_vocab)

    def word_lookup(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {w: i for i, w in enumerate(self.static_words)}
        return self._lookup

    def is_source_word(self, word: str, lang: str | None) -> bool:
        """Whether `word` belongs to the mapped language (else it is in the English space)."""
        if self.config.source_lang == "my":
            return has_myanmar(word)
        return lang == self.config.source_lang

    def mapping(self) -> Any:
        """The stored map as a `vecmap.CrossLingualMap` (numpy)."""
        from ...vecmap import CrossLingualMap

        return CrossLingualMap(
            w=self.map_w.detach().float().cpu().numpy(),
            source_mean=self.map_source_mean.detach().float().cpu().numpy(),
            target_mean=self.map_target_mean.detach().float().cpu().numpy(),
        )

    def map_vectors(self, raw: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Raw static vectors [W, H] -> English-space unit vectors; `source` [W] bool rows get W."""
        out = _torch_normalize(raw, self.map_target_mean)
        if bool(source.any()):
            mapped = _torch_normalize(raw[source], self.map_source_mean) @ self.map_w.float()
            out[source] = mapped
        return out

    def static_vectors_for(
        self, keys: Sequence[str], raw: torch.Tensor, source: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h_vec for each word: the table row when the word has one, else its own mapped vector.

        Returns (vectors [W, H], in_table [W] bool).
        """
        raw = raw.float().to(self.static_table.device)
        source = source.to(raw.device)
        vec = self.map_vectors(raw, source) if len(keys) else raw.new_zeros((0, raw.shape[-1]))
        lookup = self.word_lookup()
        rows = [lookup.get(k, -1) for k in keys]
        found = torch.tensor([r >= 0 for r in rows], dtype=torch.bool)
        if bool(found.any()):
            idx = torch.tensor([r for r in rows if r >= 0], dtype=torch.long, device=raw.device)
            vec[found.to(raw.device)] = self.static_table[idx].float()
        return vec, found

    def set_static(
        self, words: Sequence[str], vectors: np.ndarray, source: Sequence[bool], mapping: Any
    ) -> None:
        """Install a static table (already mapped unit vectors) and its map."""
        if len(words) != len(vectors) or len(words) != len(source):
            raise ValueError("words, vectors and source flags must have one entry per row")
        if any("\n" in w for w in words):
            raise ValueError("static words cannot contain newlines")
        vocab = _encode_strings(words)
        device = self.map_w.device
        self.config = replace_config(self.config, vocab_size=len(words), vocab_bytes=int(vocab.numel()))
        self._alloc_static(len(words), int(vocab.numel()))
        self.static_table = torch.as_tensor(np.asarray(vectors, dtype=np.float32)).reshape(len(words), -1).to(device)
        self.static_vocab = vocab.to(device)
        self.static_source = torch.tensor([bool(s) for s in source], dtype=torch.uint8, device=device)
        self.map_w = torch.as_tensor(mapping.w, dtype=torch.float32, device=device)
        self.map_source_mean = torch.as_tensor(mapping.source_mean, dtype=torch.float32, device=device)
        self.map_target_mean = torch.as_tensor(mapping.target_mean, dtype=torch.float32, device=device)
        self._lookup = None

    def build_static(
        self,
        source_rows: Sequence[tuple[Sequence[str], torch.Tensor]],
        target_rows: Sequence[tuple[Sequence[str], torch.Tensor]],
        dictionary: Sequence[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Average word vectors per language, fit the map, install the table.

        Rows are (words, raw static vectors [W, H]). The dictionary defaults to
        `config.dictionary`; `config.dictionary_holdout` of it is held out to
        report precision@1. Returns (and keeps in `static_report`) what happened.
        """
        from ...vecmap import CrossLingualMap

        cfg = self.config
        dim = self.encoder.info.hidden_size
        src_acc, tgt_acc = StaticAccumulator(dim, cfg.static_layer), StaticAccumulator(dim, cfg.static_layer)
        for words, vecs in source_rows:
            src_acc.add(words, vecs)
        for words, vecs in target_rows:
            tgt_acc.add(words, vecs)
        xs = src_acc.result(cfg.static_min_count, cfg.static_max_words)
        ys = tgt_acc.result(cfg.static_min_count, cfg.static_max_words)
        report: dict[str, Any] = {"source_words": len(xs), "target_words": len(ys), "layer": cfg.static_layer}
        if dictionary is None and cfg.dictionary:
            dictionary = read_dictionary(expand_placeholders(cfg.dictionary))
            report["dictionary_file"] = cfg.dictionary
        test_pairs = None
        if dictionary:
            dictionary, swapped = orient_pairs(dictionary, xs.words, ys.words)
            report["dictionary_columns_swapped"] = swapped
            if cfg.dictionary_holdout > 0:
                dictionary, test_pairs = split_dictionary(dictionary, cfg.dictionary_holdout, seed=0)
        if len(xs) and len(ys):
            result = fit_mapping(
                xs.words, xs.vectors, ys.words, ys.vectors, dictionary,
                init=cfg.mapping_init, iterations=cfg.mapping_iterations, csls_k=cfg.csls_k,
                test_pairs=test_pairs,
            )
            mapping = result.mapping
            report.update(result.summary())
            report["induced_examples"] = [list(p) for p in result.dictionary[:20]]
        else:
            # one side has no words: keep each side's centre, no rotation
            mapping = CrossLingualMap(
                w=np.eye(dim, dtype=np.float32),
                source_mean=normalize_embeddings(xs.vectors)[1] if len(xs) else np.zeros(dim, np.float32),
                target_mean=normalize_embeddings(ys.vectors)[1] if len(ys) else np.zeros(dim, np.float32),
            )
            report["warnings"] = [
                "no " + ("source" if not len(xs) else "target") + "-language words: the static vectors are not mapped"
            ]
        target_set = set(ys.words)
        keep_src = [i for i, w in enumerate(xs.words) if w not in target_set]  # English spelling wins
        words = list(ys.words) + [xs.words[i] for i in keep_src]
        vectors = np.concatenate(
            [
                mapping.map_target(ys.vectors) if len(ys) else np.zeros((0, dim), np.float32),
                mapping.map_source(xs.vectors[keep_src]) if keep_src else np.zeros((0, dim), np.float32),
            ]
        )
        source = [False] * len(ys) + [True] * len(keep_src)
        self.set_static(words, vectors, source, mapping)
        report["table_rows"] = len(words)
        self.static_report = report
        return report

    def fit_user_mapping(
        self,
        dictionary: str | Sequence[tuple[str, str]] | None,
        *,
        holdout: float = 0.3,
        init: str = "auto",
        iterations: int | None = None,
    ) -> Any:
        """Refit the map from the stored table with another dictionary (a TSV path or pairs),
        without changing the model; returns a `vecmap.MappingResult` whose `mapping`
        (a `ChainedMap`) applies to raw encoder vectors at `static_layer`, and whose
        `evaluation` is precision@1 on the held-out `holdout` share of the dictionary.
        """
        from ...vecmap import ChainedMap, CrossLingualMap

        if isinstance(dictionary, str):
            dictionary = read_dictionary(dictionary)
        words = self.static_words
        source = self.static_source.bool().tolist()
        table = self.static_table.float().cpu().numpy()
        w = self.map_w.float().cpu().numpy()
        if not any(source) or all(source):
            raise InputError(f"{self.name}: the stored static table lacks one of the two languages")
        src_words = [wd for wd, s in zip(words, source) if s]
        tgt_words = [wd for wd, s in zip(words, source) if not s]
        x = table[np.array(source)] @ w.T  # undo the stored rotation: normalised source vectors
        y = table[~np.array(source)]
        test_pairs = None
        if dictionary:
            dictionary, _ = orient_pairs(dictionary, src_words, tgt_words)
            if holdout > 0:
                dictionary, test_pairs = split_dictionary(dictionary, holdout, seed=0)
        result = fit_mapping(
            src_words, x, tgt_words, y, dictionary or None, init=init,
            iterations=self.config.mapping_iterations if iterations is None else iterations,
            csls_k=self.config.csls_k, test_pairs=test_pairs,
        )
        stored = self.mapping()
        first = CrossLingualMap(np.eye(len(w), dtype=np.float32), stored.source_mean, stored.target_mean)
        from dataclasses import replace

        return replace(result, mapping=ChainedMap((first, result.mapping)))

    # -- encoding -------------------------------------------------------------------
    @torch.inference_mode()
    def encode_rows(
        self,
        word_lists: Sequence[Sequence[str]],
        max_length: int,
        batch_size: int = 32,
        separators: Sequence[Sequence[str]] | None = None,
    ) -> _Rows:
        """Run the frozen layers once: word static states and the cached lower states.

        `separators` (per row, per word; see `TextEncoder.encode_words`) are used when
        the config reads words as running text."""
        cfg = self.config
        enc = self.encoder
        n = len(word_lists)
        ids: list[Any] = [None] * n
        lower: list[Any] = [None] * n
        raw: list[Any] = [None] * n
        spans: list[Any] = [None] * n
        kept: list[int] = [0] * n
        order = sorted(range(n), key=lambda i: sum(len(w) for w in word_lists[i]))
        for start in range(0, n, batch_size):
            chunk = order[start : start + batch_size]
            wb = enc.encode_words([list(word_lists[i]) for i in chunk], max_length=max_length,
                                  separators=self._separators(separators, chunk))
            mask = wb.attention_mask
            hidden = enc.run_layers(enc.embed_tokens(wb.input_ids), mask, 0, cfg.static_layer)
            static_h = hidden
            hidden = enc.run_layers(hidden, mask, cfg.static_layer, self.live_layer)
            lengths = mask.sum(1).tolist()
            for row, i in enumerate(chunk):
                length = int(lengths[row])
                sp = word_token_spans(wb.word_index[row].tolist(), wb.kept_words[row], length)
                ids[i] = wb.input_ids[row, :length].clone()
                lower[i] = hidden[row, :length].detach().cpu().clone()
                raw[i] = pool_words(static_h[row, :length], sp).cpu()
                spans[i] = sp
                kept[i] = wb.kept_words[row]
        return _Rows(ids, lower, raw, spans, kept)

    def _separators(self, separators: Sequence[Sequence[str]] | None, rows: Sequence[int]) -> list[list[str]] | None:
        if self.config.tokenize_words_as == "separate":
            return None
        if separators is None:
            raise ValueError(f"{self.name} reads words as running text: encode_rows needs each word's separator")
        return [list(separators[i]) for i in rows]

    # -- training -------------------------------------------------------------------
    def _row_words(self, ex: Example) -> tuple[list[str], list[tuple[int, int]], tuple[str, ...]]:
        w = words_of(ex)
        return list(w.words), [tuple(s) for s in w.spans], tuple(w.warnings)  # type: ignore[misc]

    def _items(self, examples: Sequence[Example], rows: _Rows, words: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
        items = []
        for i, ex in enumerate(examples):
            kept = rows.kept[i]
            ws = list(words[i])[:kept]
            items.append(
                {
                    "ids": rows.ids[i],
                    "lower": rows.lower[i].to(torch.float16),
                    "raw_static": rows.raw_static[i].to(torch.float16),
                    "spans": torch.tensor(rows.spans[i], dtype=torch.long).reshape(-1, 2),
                    "keys": [clean_word(w) for w in ws],
                    "source": torch.tensor([self.is_source_word(w, ex.lang) for w in ws], dtype=torch.bool),
                    "label": torch.tensor(SENTIMENT_LABELS.index(ex.label) if ex.label else -1),
                    "lang": ex.lang,
                }
            )
        return items

    def encode_examples(self, examples: Sequence[Example], max_length: int | None = None) -> list[dict[str, Any]]:
        """Examples with at least one word -> training items (no static table needed yet)."""
        keep, words, separators = [], [], []
        for ex in examples:
            w = words_of(ex)
            if w.words:
                keep.append(ex)
                words.append(list(w.words))
                separators.append(w.separators)
        rows = self.encode_rows(words, max_length or self.config.max_length, separators=separators)
        return self._items(keep, rows, words)

    def load_target_corpus(self) -> list[Example]:
        if not self.config.target_corpus:
            return []
        from ...recipes import load_data

        return load_data(expand_placeholders(self.config.target_corpus))

    def build_static_from_items(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Split item words by language and call `build_static`."""
        src, tgt = [], []
        for it in items:
            flags = it["source"]
            keys = it["keys"]
            vecs = it["raw_static"].float()
            if bool(flags.any()):
                idx = flags.nonzero().flatten().tolist()
                src.append(([keys[i] for i in idx], vecs[idx]))
            if not bool(flags.all()):
                idx = (~flags).nonzero().flatten().tolist()
                tgt.append(([keys[i] for i in idx], vecs[idx]))
        return self.build_static(src, tgt)

    @property
    def zero_resource(self) -> bool:
        return self.config.setting == "zero-resource"

    def prepare(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Labelled rows -> training items; builds the static table when the model has none.

        Zero-resource: only English labels train the head (English rows of `examples`
        and the labelled rows of the target corpus); the other rows, labelled or not,
        feed the static table alone.
        """
        if not self.zero_resource:
            rows = [ex for ex in examples if ex.label is not None]
            if not rows:
                return []
            items = self.encode_examples(rows)
            if self.config.vocab_size == 0:
                extra = self.encode_examples(self.load_target_corpus())
                self.build_static_from_items(list(items) + extra)
            self.count_labels(items)
            return items
        english = [ex for ex in examples if ex.lang == "en"] + self.load_target_corpus()
        english_items = self.encode_examples(english)
        items = [it for it in english_items if int(it["label"]) >= 0]
        if not items:
            raise XsentError(
                f"{self.name}: the zero-resource setting trains on English labels: add labelled English rows "
                "(lang 'en') or set target_corpus"
            )
        if self.config.vocab_size == 0:
            others = self.encode_examples([ex for ex in examples if ex.lang != "en"])
            self.build_static_from_items(others + english_items)
        self.count_labels(items)
        return items

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = [len(it["ids"]) for it in items]
        n_words = [len(it["keys"]) for it in items]
        t_max, w_max = max(lengths), max(max(n_words), 1)
        pool = torch.zeros((len(items), w_max, t_max))
        word_mask = torch.zeros((len(items), w_max), dtype=torch.long)
        vecs = torch.zeros((len(items), w_max, self.encoder.info.hidden_size))
        with torch.no_grad():
            for b, it in enumerate(items):
                pool[b, : len(it["spans"])] = span_mean_weights(it["spans"], t_max)
                word_mask[b, : n_words[b]] = 1
            filled = [it for it in items if it["keys"]]
            if filled:  # one lookup and one mapping for the whole batch, not one per row
                flat, _ = self.static_vectors_for([k for it in filled for k in it["keys"]],
                                                  torch.cat([it["raw_static"] for it in filled]),
                                                  torch.cat([it["source"] for it in filled]))
                vecs[word_mask.bool()] = flat.cpu()
        return {
            "lower": pad_stack([it["lower"] for it in items]),
            "attention_mask": pad_stack([torch.ones(n, dtype=torch.long) for n in lengths]),
            "pool": pool,
            "word_mask": word_mask,
            "h_vec": vecs,
            "label": torch.stack([it["label"] for it in items]),
        }

    def features(
        self, hidden: torch.Tensor, pool: torch.Tensor, word_mask: torch.Tensor, h_vec: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Top-layer states -> per-word h_ctx, gate, fused vectors and the pooled sentence."""
        h_ctx = torch.bmm(pool.to(hidden.dtype), hidden)
        fused, g = self.gate(h_ctx, self.vec_scale * h_vec.to(hidden.dtype))
        return {"h_ctx": h_ctx, "fused": fused, "gate": g, "word_mask": word_mask, "pooled": masked_mean(fused, word_mask)}

    def logits(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.dropout(feats["pooled"]))

    def batch_features(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = upper_states(self.encoder, batch["lower"], batch["attention_mask"], self.live_layer)
        return self.features(hidden, batch["pool"], batch["word_mask"], batch["h_vec"])

    def count_labels(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Remember the training items' label counts (the prior the imbalance options correct)."""
        labels = [int(it["label"]) for it in items if int(it["label"]) >= 0]
        self.class_counts.copy_(class_counts(labels, len(SENTIMENT_LABELS)).to(self.class_counts))

    def sentence_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy on the labelled rows (label >= 0), with the config's imbalance handling;
        0 (with a graph) when no row of the batch is labelled."""
        keep = labels >= 0
        if not bool(keep.all()):
            if not bool(keep.any()):
                return logits.sum() * 0.0
            logits, labels = logits[keep], labels[keep]
        return imbalanced_cross_entropy(logits, labels, self.class_counts,
                                        class_weighting=self.config.class_weighting, logit_adjust=self.config.logit_adjust)

    def forward_loss(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feats = self.batch_features(batch)
        loss = self.sentence_loss(self.logits(feats), batch["label"])
        return {"loss": loss, "classification": loss.detach(), "gate_mean": feats["gate"].detach().mean()}

    # -- inference --------------------------------------------------------------------
    def _run(self, examples: Sequence[Example], batch_size: int = 32) -> list[dict[str, Any]]:
        """Everything predict/explain need, one dict per example (eval mode, no grad)."""
        self.eval()
        parsed, separators = [], []
        for ex in examples:
            w = words_of(ex)
            n = min(len(w.words), MAX_PREDICT_WORDS)
            parsed.append((ex, list(w.words[:n]), [tuple(s) for s in w.spans[:n]], tuple(w.warnings)))
            separators.append(w.separators[:n])
        out: list[Any] = [None] * len(parsed)
        if self.config.tokenize_words_as == "separate":
            by_length = length_chunks(self.encoder, [p[1] for p in parsed], batch_size, split=True)
        else:
            texts = [join_words(p[1], seps)[0] for seps, p in zip(separators, parsed)]
            by_length = length_chunks(self.encoder, texts, batch_size)
        with torch.inference_mode():
            for indices in by_length:
                chunk = [parsed[i] for i in indices]
                rows = self.encode_rows([p[1] for p in chunk], self.encoder.info.max_length, batch_size=batch_size,
                                        separators=[separators[i] for i in indices])
                items = self._items([p[0] for p in chunk], rows, [p[1] for p in chunk])
                batch = self.collate(items)
                batch = {k: v.to(self.device) for k, v in batch.items()}
                feats = self.batch_features(batch)
                probs = self.logits(feats).softmax(-1).cpu()
                for b, (ex, words, spans, warnings) in enumerate(chunk):
                    kept = rows.kept[b]
                    extra: tuple[str, ...] = ()
                    if kept < len(words):
                        extra += (
                            f"text longer than the encoder's {self.encoder.info.max_length} sub-tokens; "
                            f"only the first {kept} of {len(words)} words were read",
                        )
                    if not words:
                        extra += ("empty text: the prediction reflects no content",)
                    my = any(has_myanmar(w) for w in words)
                    latin = any(is_lexical(w) and not has_myanmar(w) for w in words)
                    if my and latin:
                        extra += ("mixed Burmese-English text: English words use English static vectors (not mapped)",)
                    out[indices[b]] = {
                        "example": ex,
                        "probs": probs[b],
                        "words": words[:kept],
                        "spans": spans[:kept],
                        "warnings": tuple(warnings) + extra,
                        "item": items[b],
                        "feats": {k: v[b : b + 1] for k, v in feats.items()},
                        "h_vec": batch["h_vec"][b, :kept],
                    }
        return out

    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        return [
            Prediction(
                label=SENTIMENT_LABELS[int(r["probs"].argmax())],
                probs={lab: float(v) for lab, v in zip(SENTIMENT_LABELS, r["probs"])},
                extras={"gate_mean": round(float(_word_gate(r).mean()), 4) if r["words"] else None},
                warnings=r["warnings"],
            )
            for r in self._run(examples, batch_size)
        ]

    def nearest_english(self, vectors: torch.Tensor, exclude: Sequence[str] = ()) -> list[tuple[str | None, float]]:
        """For each mapped vector, the closest English (non-source) word of the static table."""
        words = self.static_words
        english = [i for i in range(len(words)) if not int(self.static_source[i])]
        if not english or len(vectors) == 0:
            return [(None, 0.0)] * len(vectors)
        table = self.static_table[english].float()
        sims = F.normalize(vectors.float(), dim=-1) @ F.normalize(table, dim=-1).T
        out = []
        for row, own in zip(sims, list(exclude) + [None] * (len(vectors) - len(exclude))):
            order = row.argsort(descending=True)[:2].tolist()
            best = next((j for j in order if words[english[j]] != own), order[0])
            out.append((words[english[best]], round(float(row[best]), 4)))
        return out

    def explain(self, example: Example) -> dict[str, Any]:
        """Label, probabilities and, per word: its span, gate (mean and per dimension),
        where its static vector came from and its nearest English word after mapping."""
        r = self._run([example])[0]
        return self._explain_from(r)

    def _explain_from(self, r: Mapping[str, Any]) -> dict[str, Any]:
        gate = r["feats"]["gate"][0, : len(r["words"])].float().cpu()
        item = r["item"]
        in_table = self.static_vectors_for(item["keys"], item["raw_static"], item["source"])[1]
        nearest = self.nearest_english(r["h_vec"], exclude=item["keys"])
        words = []
        for w, word in enumerate(r["words"]):
            s, e = r["spans"][w]
            words.append(
                {
                    "text": word,
                    "start": int(s),
                    "end": int(e),
                    "gate": round(float(gate[w].mean()), 4),
                    "mapped": bool(item["source"][w]),
                    "static_from": "corpus" if bool(in_table[w]) else "this sentence",
                    "nearest_english": nearest[w][0],
                    "nearest_cosine": nearest[w][1],
                }
            )
        probs = r["probs"]
        tokens = tuple(w["text"] for w in words)
        per_dim = [[round(float(v), 4) for v in row] for row in gate.tolist()]
        panels = [
            panel_dict(TokenScores("Gate per word (mean over dimensions; 1 = contextual, 0 = mapped static)", tokens,
                                   tuple(w["gate"] for w in words), "gate", tuple((w["start"], w["end"]) for w in words))),
        ]
        if words:
            panels.append(panel_dict(ValueSpread("Gate per dimension (one histogram per word)", tokens,
                                                 tuple(tuple(row) for row in per_dim), "gate value per dimension (1 = contextual, 0 = static)")))
        return {
            "method": self.name,
            "label": SENTIMENT_LABELS[int(probs.argmax())],
            "probs": {lab: float(v) for lab, v in zip(SENTIMENT_LABELS, probs)},
            "words": words,
            "panels": panels,
            "gate_per_dimension": per_dim,
            "gate_mean": round(float(gate.mean()), 4) if len(words) else None,
            "gate_meaning": "1 = contextual encoder state, 0 = mapped static word vector",
            "warnings": list(r["warnings"]),
        }

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        rows = [ex for ex in examples if ex.label is not None]
        if not rows:
            raise InputError(f"{self.name}: no labelled examples to evaluate")
        return flat_sentence_metrics(prediction_report([ex.label for ex in rows], self.predict(rows)))


def _word_gate(r: Mapping[str, Any]) -> torch.Tensor:
    return r["feats"]["gate"][0, : len(r["words"])]
