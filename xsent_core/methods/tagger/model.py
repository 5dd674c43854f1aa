"""`tagger` baseline: BIES x {POS, NEU, NEG} + O token classification over the
encoder; labels on each word's first sub-token. Trained on English only, it is
MSMO's "zero-shot" row."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ...data import bies
from ...evaluation import span_report
from ...types import AspectSpan, Example, Prediction
from ...adaptation import EncoderAdaptation, adapt_encoder
from ..panels import Matrix, panel_dict, rounded
from ..base import Method
from ..common import frozen_states, full_states, length_chunks, pad_stack, upper_states, words_of


@dataclass(frozen=True)
class TaggerConfig(EncoderAdaptation):
    encoder: str = "builtin"
    train_from_layer: int = 8  # layers below are frozen; their outputs are cached
    max_length: int = 128  # sub-tokens per training sentence
    dropout: float = 0.1
    # joined positive+negative training rows per training row (data.augment); 0 = off
    contrastive_augment: float = 0.0


class TaggerMethod(Method):
    name = "tagger"
    config_cls = TaggerConfig
    task = "spans"
    shows = "tag probabilities per word"
    averageable = True  # LoRA deltas and a linear head (MSMO's critic, training-only, is the exception)
    jobs = frozenset({"distill"})

    def __init__(self, config: TaggerConfig, encoder: Any) -> None:
        super().__init__(config)
        self.encoder = encoder
        self.live_layer = adapt_encoder(encoder, config)  # layers below it are cached
        self.dropout = torch.nn.Dropout(config.dropout)
        self.head = torch.nn.Linear(encoder.info.hidden_size, len(bies.TAGS))

    @classmethod
    def create(cls, config: TaggerConfig, device: Any = "cpu") -> "TaggerMethod":
        from ...encoders.registry import load_text_encoder

        return cls(config, load_text_encoder(config.encoder, device=device)).to(device)

    def encoder_fingerprint(self) -> str:
        return self.encoder.info.fingerprint

    # -- training ---------------------------------------------------------------
    def prepare(self, examples: Sequence[Example]) -> list[dict[str, torch.Tensor]]:
        from ...data.augment import contrastive_rows

        examples = [*examples, *contrastive_rows(examples, self.config.contrastive_augment)]
        items = []
        word_lists, tag_lists = [], []
        for ex in examples:
            words = words_of(ex)
            if not words.words:
                continue
            tags = example_tags(ex, words.spans)
            word_lists.append(list(words.words))
            tag_lists.append(tags)
        if not word_lists:
            return []
        enc = self.encoder.encode_words(word_lists, max_length=self.config.max_length)
        ids = [row[m.bool()] for row, m in zip(enc.input_ids, enc.attention_mask)]
        lower = frozen_states(self.encoder, ids, self.live_layer)
        for i, tags in enumerate(tag_lists):
            n = int(enc.word_mask[i].sum())
            items.append(
                {
                    "ids": ids[i],
                    "lower": lower[i],
                    "word_index": enc.word_index[i, :n].clone(),
                    "tags": torch.tensor([bies.TAG2ID[t] for t in tags[:n]], dtype=torch.long),
                }
            )
        return items

    def collate(self, items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {
            "lower": pad_stack([it["lower"] for it in items]),
            "attention_mask": pad_stack([torch.ones_like(it["ids"]) for it in items]),
            "word_index": pad_stack([it["word_index"] for it in items]),
            "tags": pad_stack([it["tags"] for it in items], value=-100),
        }

    def tag_logits(self, hidden: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
        words = hidden.gather(1, word_index.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
        return self.head(self.dropout(words))

    def forward_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = upper_states(self.encoder, batch["lower"], batch["attention_mask"], self.live_layer)
        logits = self.tag_logits(hidden, batch["word_index"])
        loss = F.cross_entropy(logits.flatten(0, 1), batch["tags"].flatten(), ignore_index=-100)
        return {"loss": loss, "tagging": loss.detach()}

    # -- inference --------------------------------------------------------------
    @torch.inference_mode()
    def tag_probs(self, examples: Sequence[Example], batch_size: int = 32) -> list[tuple[Any, torch.Tensor, bool]]:
        """(words, [n_words, 13] probabilities, truncated?) for each example."""
        self.eval()
        out: list[Any] = [None] * len(examples)
        all_words = [words_of(ex) for ex in examples]
        for indices in length_chunks(self.encoder, [w.words for w in all_words], batch_size, split=True):
            chunk = [all_words[i] for i in indices]
            lists = [list(w.words) or [""] for w in chunk]
            enc = self.encoder.encode_words(lists, max_length=self.encoder.info.max_length)
            device = self.device
            hidden = full_states(self.encoder, enc.input_ids.to(device), enc.attention_mask.to(device))
            probs = self.tag_logits(hidden, enc.word_index.to(device)).softmax(-1).cpu()
            for i, (index, words) in enumerate(zip(indices, chunk)):
                kept = int(enc.kept_words[i]) if words.words else 0
                out[index] = (words, probs[i, :kept], kept < len(words.words))
        return out

    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        results = []
        for ex, (words, probs, truncated) in zip(examples, self.tag_probs(examples, batch_size)):
            warnings = list(words.warnings)
            if truncated:
                warnings.append(
                    f"only the first {probs.shape[0]} of {len(words.words)} words fit the encoder; the rest was not tagged"
                )
            spans = spans_from_probs(ex.text, words.spans, probs)
            results.append(Prediction(spans=spans, warnings=tuple(warnings)))
        return results

    def explain(self, example: Example) -> dict[str, Any]:
        words, probs, _ = self.tag_probs([example])[0]
        tokens = list(words.words[: probs.shape[0]])
        return {
            "tokens": tokens,
            "token_spans": [list(s) for s in words.spans[: probs.shape[0]]],
            "tags": list(bies.TAGS),
            "tag_probs": probs.tolist(),
            "spans": [s.to_dict() for s in spans_from_probs(example.text, words.spans, probs)],
            "panels": [tag_panel(self.name, tokens, probs)],
        }

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        preds = self.predict(examples)
        gold = [[(s.start, s.end, s.polarity) for s in (ex.spans or ())] for ex in examples]
        guess = [[(s.start, s.end, s.polarity) for s in (p.spans or ())] for p in preds]
        return span_report(gold, guess)


def tag_panel(method: str, tokens: Sequence[str], probs: torch.Tensor) -> dict[str, Any]:
    """The tag probabilities of each word as a Matrix panel (rows: words, columns: BIES tags)."""
    return panel_dict(Matrix(
        f"{method} tag probabilities per word (BIES × polarity)",
        tuple(rounded(row) for row in probs.tolist()), tuple(tokens), tuple(bies.TAGS), "word", "tag",
    ))


def example_tags(example: Example, word_spans: Sequence[tuple[int, int]]) -> list[str]:
    """Gold character spans -> BIES tags over the given words (word must lie inside a span)."""
    token_spans = []
    for span in example.spans or ():
        inside = [i for i, (s, e) in enumerate(word_spans) if s >= span.start and e <= span.end]
        if inside:
            token_spans.append((inside[0], inside[-1] + 1, span.polarity))
    return bies.spans_to_tags(len(word_spans), token_spans)


def spans_from_probs(
    text: str, word_spans: Sequence[tuple[int, int]], probs: torch.Tensor
) -> tuple[AspectSpan, ...]:
    """Decode tag probabilities (BIES repair rule in `bies.decode_probs`) to character spans."""
    if probs.shape[0] == 0:
        return ()
    out: list[AspectSpan] = []
    for start, end, polarity, score in bies.decode_probs(probs.numpy()):
        cs, ce = word_spans[start][0], word_spans[end - 1][1]
        # normalisation may reorder combining marks across a word boundary, so neighbouring
        # words can map back to overlapping characters: spans must still not overlap
        cs = max(cs, out[-1].end) if out else cs
        if cs < ce:
            out.append(AspectSpan(start=cs, end=ce, text=text[cs:ce], polarity=polarity, score=float(score)))
    return tuple(out)
