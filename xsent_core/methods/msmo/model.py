"""MSMO (Multi-Scale and Multi-Objective optimisation, ACL 2026) on the tagger.

The model is the `tagger` (13 BIES tags on each word's first sub-token) plus:
- a Wasserstein critic Q on mean-pooled top-layer features. It has its own
  RMSprop optimiser and takes `critic_steps` updates (weights clipped to
  [-c, c]) in `before_optimizer_step`, on pooled features of the last
  `critic_buffer` batches (recorded, detached, during `forward_loss`, so no
  extra encoder pass is needed). The encoder's loss gets
  adv_weight * (E[Q(src)] - E[Q(tgt)]) with the critic held fixed: the same
  gradient as a gradient-reversal layer with lambda = adv_weight.
- span consistency: for aligned aspect spans of a sentence and its
  code-switched counterpart, the symmetric KL between their polarity
  distributions (normalised products of token tag probabilities), weighted by
  the target language's beta.
- distillation batches (items carrying `targets`): MSE to teacher (or one-hot)
  tag distributions; see `distill.py`.

Schedule "two_stage" (paper): critic + adversarial loss during the first
`stage1_fraction` of the optimiser steps, consistency after; "joint": both in
every step. The stage is read from the step number and `total_steps`, which
the recipe sets (`ScheduleCallback`); without it both run (joint).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import torch

from ...data import bies
from ...evaluation import span_report
from ...nn import eval_mode, masked_mean, size_chunks
from ...types import Example
from ..base import window_shuffled_chunks
from ..common import FrozenStateCache, frozen_states, pad_stack, upper_states, words_of
from ..tagger.model import TaggerMethod, example_tags, spans_from_probs, tag_panel
from . import losses
from .config import MsmoConfig
from .code_switched_pairs import ViewPair

DECODING_RULE = (
    "each word takes its most probable tag; tag sequences that are not valid BIES are read left to right: "
    "O closes a span, S emits a one-word span, B opens a span, I continues an open span of the same "
    "polarity (else opens a new one), E closes an open span of the same polarity (else emits a one-word "
    "span), the end of the sentence closes an open span (xsent_core.data.bies)"
)


class Critic(torch.nn.Module):
    """Q: pooled sentence feature -> real-valued score (no sigmoid: Wasserstein)."""

    def __init__(self, dim: int, hidden: int, clip: float) -> None:
        super().__init__()
        if hidden:
            self.net = torch.nn.Sequential(
                torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )
        else:
            self.net = torch.nn.Sequential(torch.nn.Linear(dim, 1))
        self.clip_(clip)

    @torch.no_grad()
    def clip_(self, clip: float) -> None:
        for p in self.parameters():
            p.copy_(losses.clipped(p, clip))

    def forward(self, x: torch.Tensor, fixed: bool = False) -> torch.Tensor:
        if fixed:  # gradients reach x only; the critic's weights are not updated by this pass
            params = {k: v.detach() for k, v in self.net.named_parameters()}
            return torch.func.functional_call(self.net, params, (x,)).squeeze(-1)
        return self.net(x).squeeze(-1)


@dataclass
class SentenceItem:
    """One sentence ready for batching (frozen lower-layer states cached)."""

    ids: torch.Tensor
    lower: torch.Tensor
    word_index: torch.Tensor
    tags: torch.Tensor | None = None  # [n] ids; None = no hard labels
    targets: torch.Tensor | None = None  # [n, 13] soft targets (distillation)

    @property
    def n_words(self) -> int:
        return int(self.word_index.shape[0])

    def __len__(self) -> int:  # length bucketing in Method.batches
        return int(self.ids.shape[0])


@dataclass
class PairItem:
    """A training unit: a sentence, its code-switched partner, aligned word spans."""

    a: SentenceItem
    b: SentenceItem | None
    domain: int  # 0 = source language, 1 = target language
    beta: float
    word_pairs: tuple[tuple[int, int, int, int], ...] = field(default=())
    domain_b: int | None = None  # b's domain when it differs (an English sentence and its translation)

    @property
    def kind(self) -> tuple[int, int]:
        """Batching bucket: (a's domain, b's domain); (domain, -1) for text only (no tags, no partner)."""
        if self.b is None and self.a.tags is None:
            return self.domain, -1
        return self.domain, self.domain if self.domain_b is None else self.domain_b

    @property
    def sentences(self) -> int:
        return 1 if self.b is None else 2

    def __len__(self) -> int:  # length bucketing in Method.batches
        return int(self.a.ids.shape[0]) + (int(self.b.ids.shape[0]) if self.b is not None else 0)


class ScheduleCallback:
    """Tells the model the run's total steps so the two-stage schedule can split them."""

    def __init__(self, method: "MsmoMethod") -> None:
        self.method = method

    def __call__(self, event: str, state: Any, payload: Mapping[str, Any]) -> None:
        if event == "start":
            self.method.total_steps = int(payload.get("total_steps") or state.total_steps)


class GradientRatioLog:
    """Collects the logged `*_grad_ratio` values (see `MsmoMethod._probe`) per epoch."""

    def __init__(self) -> None:
        self.values: dict[int, dict[str, list[float]]] = {}

    def __call__(self, event: str, state: Any, payload: Mapping[str, Any]) -> None:
        if event != "step":
            return
        for key, value in payload.items():
            if key.endswith("_grad_ratio"):
                self.values.setdefault(int(state.epoch), {}).setdefault(key, []).append(float(value))

    def by_epoch(self) -> dict[str, dict[str, float]]:
        """{epoch: {term_grad_ratio: mean}}: each term's gradient norm at the encoder output over the CE's."""
        return {
            str(epoch): {k: round(sum(v) / len(v), 4) for k, v in sorted(terms.items())}
            for epoch, terms in sorted(self.values.items())
        }


class MsmoMethod(TaggerMethod):
    name = "msmo"
    config_cls = MsmoConfig
    task = "spans"
    shows = "tag probabilities per word"
    jobs = frozenset({"distill"})

    def __init__(self, config: MsmoConfig, encoder: Any) -> None:
        super().__init__(config, encoder)
        self.critic = (
            Critic(encoder.info.hidden_size, config.critic_hidden, config.critic_clip) if config.adversarial else None
        )
        self.total_steps: int | None = None
        self._step = 0
        self._features: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._critic_opt: torch.optim.Optimizer | None = None

    @classmethod
    def create(cls, config: MsmoConfig, device: Any = "cpu") -> "MsmoMethod":
        from ...encoders.registry import load_text_encoder

        return cls(config, load_text_encoder(config.encoder, device=device)).to(device)

    @classmethod
    def run_preset(cls, preset: Any, out_dir: Any, options: Any) -> dict[str, Any]:
        """Multi-stage recipes (MSMO, MSMO-Distill): see `train.run_preset`."""
        from .train import run_preset

        return run_preset(preset, out_dir, options)

    # -- schedule ---------------------------------------------------------------
    def _in_stage1(self) -> bool:
        if self.config.schedule == "joint" or self.total_steps is None:
            return True
        return self._step < self.config.stage1_fraction * self.total_steps

    def adversarial_active(self) -> bool:
        return self.critic is not None and self.config.adversarial and (
            self.config.schedule == "joint" or self.total_steps is None or self._in_stage1()
        )

    def adversarial_lambda(self) -> float:
        """adv_weight, ramped over the adversarial phase when adv_ramp is "dann"."""
        if self.config.adv_ramp == "none" or self.total_steps is None:
            return self.config.adv_weight
        phase = self.total_steps * (1.0 if self.config.schedule == "joint" else self.config.stage1_fraction)
        return self.config.adv_weight * losses.dann_ramp(self._step / max(phase, 1.0))

    def consistency_active(self) -> bool:
        return self.config.consistency and (
            self.config.schedule == "joint" or self.total_steps is None or not self._in_stage1()
        )

    # -- data ---------------------------------------------------------------------
    def encode_sentences(
        self,
        examples: Sequence[Example],
        *,
        max_length: int | None = None,
        labelled: bool | Sequence[bool] = True,
        cache: FrozenStateCache | None = None,
    ) -> list[SentenceItem | None]:
        """Tokenise and run the frozen layers once; None for rows without words.

        Identical word sequences are encoded once (the source sentences repeat
        across target languages); pass `cache` to share that across calls and
        across models on the same frozen layers.
        `labelled` False gives `tags=None` (text only).
        """
        max_length = max_length or self.config.max_length
        flags = [labelled] * len(examples) if isinstance(labelled, bool) else list(labelled)
        cache = FrozenStateCache() if cache is None else cache
        words = [words_of(ex) for ex in examples]
        head = (self.encoder.info.fingerprint, self.live_layer, max_length)
        encoded = iter(cache.fill([(*head, w.words) for w in words if w.words], lambda missing: self._encode_words(
            [key[-1] for key in missing], max_length)))
        out: list[SentenceItem | None] = []
        for ex, w, flag in zip(examples, words, flags):
            if not w.words:
                out.append(None)
                continue
            ids, lower, word_index = next(encoded)
            tags = None
            if flag:
                tag_names = example_tags(ex, w.spans)[: word_index.shape[0]]
                tags = torch.tensor([bies.TAG2ID[t] for t in tag_names], dtype=torch.long)
            out.append(SentenceItem(ids, lower, word_index, tags))
        return out

    def _encode_words(self, sentences: Sequence[tuple[str, ...]], max_length: int) -> list[tuple[torch.Tensor, ...]]:
        """(ids, frozen lower states, word index) per sentence, 256 sentences per encoder call."""
        out: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, len(sentences), 256):
            chunk = sentences[start : start + 256]
            enc = self.encoder.encode_words([list(w) for w in chunk], max_length=max_length)
            ids = [row[m.bool()] for row, m in zip(enc.input_ids, enc.attention_mask)]
            lower = frozen_states(self.encoder, ids, self.live_layer)
            out += [(ids[i], lower[i], enc.word_index[i, : int(enc.kept_words[i])].clone()) for i in range(len(chunk))]
        return out

    def prepare(self, examples: Sequence[Example | ViewPair], cache: FrozenStateCache | None = None) -> list[PairItem]:
        """Training items from ViewPairs (see `views.build_pairs`) or plain Examples.

        A plain Example is an unpaired item; its domain is 0 for English (or no
        language), else 1; one without `spans` (None) is text only: it feeds the
        critic and no tagging loss. Aspect pairs whose words were cut by
        truncation are dropped.
        """
        pairs = [
            p if isinstance(p, ViewPair) else ViewPair(p, None, 0 if p.lang in (None, "en") else 1, p.lang or "en")
            for p in examples
        ]
        cache = FrozenStateCache() if cache is None else cache
        firsts = self.encode_sentences([p.a for p in pairs], cache=cache, labelled=[p.a.spans is not None for p in pairs])
        partners = [p.b for p in pairs if p.b is not None]
        seconds = iter(self.encode_sentences(partners, cache=cache, labelled=[b.spans is not None for b in partners]))
        items = []
        for p, a in zip(pairs, firsts):
            b = next(seconds) if p.b is not None else None
            if a is None:
                continue
            kept = tuple(
                wp for wp in p.word_pairs if b is not None and wp[1] <= a.n_words and wp[3] <= b.n_words
            )
            items.append(PairItem(a, b, p.domain, self.config.beta_for(p.lang), kept, p.domain_b))
        return items

    def batches(
        self, prepared: Sequence[Any], batch_size: int, shuffle: bool, generator: random.Random
    ) -> Iterator[Any]:
        """`batch_size` counts sentences: a pair fills two places (same compute per
        step as the tagger). Each batch takes an equal share of sentences of each kind
        (source pairs, target pairs, translation pairs, target text), so the
        critic always sees both domains (length-sorting alone would group languages)."""
        if not prepared or not isinstance(prepared[0], PairItem):
            yield from super().batches(prepared, batch_size, shuffle, generator)
            return
        by_kind: dict[tuple[int, int], list[int]] = {}
        for i, it in enumerate(prepared):
            by_kind.setdefault(it.kind, []).append(i)
        per_kind = batch_size / len(by_kind)  # sentences each kind contributes to a batch
        chunked = []
        for members in by_kind.values():
            size = sum(prepared[i].sentences for i in members) / len(members)
            share = max(1, round(per_kind / size))
            chunks = window_shuffled_chunks(len(members), share, shuffle, generator, lambda j: len(prepared[members[j]]))
            chunked.append([[members[j] for j in chunk] for chunk in chunks])
        for k in range(max(len(c) for c in chunked)):
            batch = [i for chunks in chunked if k < len(chunks) for i in chunks[k]]
            yield self.collate([prepared[i] for i in batch])

    def collate(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        sentences: list[SentenceItem] = []
        domains: list[int] = []
        pairs: list[list[int]] = []
        betas: list[float] = []
        for it in items:
            if isinstance(it, SentenceItem):
                sentences.append(it)
                domains.append(-1)
                continue
            row_a = len(sentences)
            sentences.append(it.a)
            domains.append(it.domain)
            if it.b is not None:
                row_b = len(sentences)
                sentences.append(it.b)
                domains.append(it.kind[1])
                for sa, ea, sb, eb in it.word_pairs:
                    pairs.append([row_a, sa, ea, row_b, sb, eb])
                    betas.append(it.beta)
        batch = {
            "lower": pad_stack([s.lower for s in sentences]),
            "attention_mask": pad_stack([torch.ones_like(s.ids) for s in sentences]),
            "word_index": pad_stack([s.word_index for s in sentences]),
            "word_mask": pad_stack([torch.ones(s.n_words, dtype=torch.long) for s in sentences]),
            "tags": pad_stack(
                [s.tags if s.tags is not None else torch.full((s.n_words,), -100) for s in sentences], value=-100
            ),
            "domain": torch.tensor(domains, dtype=torch.long),
            "pairs": torch.tensor(pairs, dtype=torch.long).reshape(-1, 6),
            "pair_beta": torch.tensor(betas, dtype=torch.float32),
        }
        if any(s.targets is not None for s in sentences):
            if not all(s.targets is not None for s in sentences):
                raise ValueError("a distillation batch needs targets for every sentence")
            batch["targets"] = pad_stack([s.targets for s in sentences])  # type: ignore[misc]
        return batch

    # -- training ---------------------------------------------------------------
    def param_groups(self, train: Any) -> list[dict[str, Any]]:
        """As the base, minus the critic (it has its own optimiser)."""
        critic = {id(p) for p in self.critic.parameters()} if self.critic is not None else set()
        groups = []
        for g in super().param_groups(train):
            params = [p for p in g["params"] if id(p) not in critic]
            if params:
                groups.append({**g, "params": params})
        return groups

    def _critic_optimizer(self) -> torch.optim.Optimizer:
        if self._critic_opt is None:
            assert self.critic is not None
            params = self.critic.parameters()
            self._critic_opt = (
                torch.optim.RMSprop(params, lr=self.config.critic_lr) if self.config.critic_penalty == "clip"
                else torch.optim.Adam(params, lr=self.config.critic_lr, betas=(0.5, 0.9))  # WGAN-GP's choice
            )
        return self._critic_opt

    def before_optimizer_step(self, batch: Any, step: int) -> dict[str, float]:
        """n_critic critic updates on recent pooled features, each followed by
        weight clipping or including the gradient penalty."""
        self._step = step
        if not self.adversarial_active() or not self._features or self.config.critic_steps == 0:
            return {}
        assert self.critic is not None
        src = torch.cat([s for s, _ in self._features])
        tgt = torch.cat([t for _, t in self._features])
        if len(src) == 0 or len(tgt) == 0:
            return {}
        opt = self._critic_optimizer()
        value = torch.zeros(())
        gp = self.config.critic_penalty == "gp"
        generator = torch.Generator().manual_seed(step)  # the penalty's interpolation points, reproducible
        with torch.enable_grad():
            for _ in range(self.config.critic_steps):
                opt.zero_grad(set_to_none=True)
                value = losses.critic_loss(self.critic(src), self.critic(tgt))
                loss = value
                if gp:
                    n = min(len(src), len(tgt))
                    alpha = torch.rand((n, 1), generator=generator).to(src)
                    loss = loss + self.config.gp_weight * losses.gradient_penalty(self.critic, src, tgt, alpha)
                loss.backward()
                opt.step()
                if not gp:
                    self.critic.clip_(self.config.critic_clip)
        opt.zero_grad(set_to_none=True)
        return {"critic_wasserstein": -float(value.detach())}

    def _probe(self, hidden: torch.Tensor, terms: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each loss term's gradient norm at the encoder output, over the tagging CE's.

        Measured every `grad_probe_every` training steps (it costs one backward
        through the heads per term), so a log shows whether a term acts.
        """
        every = self.config.grad_probe_every
        if not (self.training and every and self._step % every == 0 and hidden.requires_grad):
            return {}
        norms = {}
        for name, value in terms.items():
            if value.requires_grad:
                (grad,) = torch.autograd.grad(value, hidden, retain_graph=True, allow_unused=True)
                norms[name] = torch.zeros(()) if grad is None else grad.detach().norm()
        base = norms.pop("tagging", None)
        if base is None or float(base) == 0.0:
            return {}
        return {f"{name}_grad_ratio": norm / base for name, norm in norms.items()}

    def forward_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = upper_states(self.encoder, batch["lower"], batch["attention_mask"], self.live_layer)
        logits = self.tag_logits(hidden, batch["word_index"])
        if "targets" in batch:
            if self.config.distill_loss == "kl":
                loss = losses.distillation_kl(logits, batch["targets"], batch["word_mask"], self.config.distill_temperature)
                return {"loss": loss, "distill_kl": loss.detach()}
            loss = losses.distillation_mse(logits, batch["targets"], batch["word_mask"])
            return {"loss": loss, "distill_mse": loss.detach()}
        ce = losses.tagging_cross_entropy(logits, batch["tags"])
        out = {"tagging": ce.detach()}
        terms = {"tagging": ce}
        domain = batch.get("domain")
        if self.adversarial_active() and domain is not None and self.critic is not None:
            src, tgt = domain == 0, domain == 1
            if bool(src.any()) and bool(tgt.any()):
                pooled = masked_mean(hidden, batch["attention_mask"])
                q = self.critic(pooled, fixed=True)
                weight = self.adversarial_lambda()
                terms["adversarial"] = losses.encoder_adversarial_loss(q[src], q[tgt], weight, self.config.adv_hinge)
                out["wasserstein"] = losses.wasserstein_estimate(q[src], q[tgt]).detach()
                out["adv_lambda"] = torch.tensor(weight)
                self._features.append((pooled[src].detach(), pooled[tgt].detach()))
                del self._features[: -self.config.critic_buffer]
        pairs = batch.get("pairs")
        if self.consistency_active() and pairs is not None and pairs.numel():
            weighted, plain = losses.consistency_loss(logits.log_softmax(-1), pairs, batch["pair_beta"])
            terms["consistency"] = weighted
            out["consistency"] = plain
        out.update(self._probe(hidden, terms))
        out["loss"] = sum(terms.values())  # type: ignore[assignment]
        return out

    # -- inference --------------------------------------------------------------
    def explain(self, example: Example) -> dict[str, Any]:
        """Per-word tag probabilities, decoded spans (original-text offsets) and each
        span's polarity distribution (normalised product of its tag probabilities)."""
        words, probs, truncated = self.tag_probs([example])[0]
        spans = spans_from_probs(example.text, words.spans, probs)
        token_spans = bies.decode_probs(probs.numpy()) if probs.shape[0] else []
        details = []
        for span, (start, end, _, _) in zip(spans, token_spans):
            dist = span_polarity(probs, start, end)
            details.append({**span.to_dict(), "words": [start, end], "polarity_distribution": dist})
        warnings = list(words.warnings)
        if truncated:
            warnings.append(f"only the first {probs.shape[0]} of {len(words.words)} words fit the encoder")
        return {
            "method": self.name,
            "tokens": list(words.words[: probs.shape[0]]),
            "token_spans": [list(s) for s in words.spans[: probs.shape[0]]],
            "tags": list(bies.TAGS),
            "tag_probs": probs.tolist(),
            "spans": details,
            "decoding_rule": DECODING_RULE,
            "warnings": warnings,
            "panels": [tag_panel(self.name, words.words[: probs.shape[0]], probs)],
        }


def span_polarity(probs: torch.Tensor, start: int, end: int) -> dict[str, float]:
    """Polarity distribution of words [start, end) from [n, 13] tag probabilities."""
    logp = probs.clamp_min(1e-12).log()[None]
    idx = torch.tensor([0])
    scores = losses.span_log_scores(logp, idx, torch.tensor([start]), torch.tensor([end]))
    dist = losses.span_log_distribution(scores)[0].exp()
    return {pol: float(p) for pol, p in zip(losses.SPAN_POLARITIES, dist)}


@torch.inference_mode()
def cached_tag_probs(model: TaggerMethod, items: Sequence[SentenceItem | None], batch_size: int = 64) -> list[torch.Tensor]:
    """Tag probabilities [n_words, 13] from cached lower states (None rows -> empty)."""
    out: list[torch.Tensor] = [torch.zeros((0, len(bies.TAGS)))] * len(items)
    real = [i for i, it in enumerate(items) if it is not None]
    device = model.device
    with eval_mode(model):
        for part in size_chunks([int(items[i].ids.shape[0]) for i in real], batch_size):  # type: ignore[union-attr]
            picked = [real[p] for p in part]
            chunk = [items[i] for i in picked]
            lower = pad_stack([c.lower for c in chunk]).to(device)  # type: ignore[union-attr]
            mask = pad_stack([torch.ones_like(c.ids) for c in chunk]).to(device)  # type: ignore[union-attr]
            index = pad_stack([c.word_index for c in chunk]).to(device)  # type: ignore[union-attr]
            hidden = upper_states(model.encoder, lower, mask, model.live_layer)
            probs = model.tag_logits(hidden, index).softmax(-1).float().cpu()
            for row, i in enumerate(picked):
                out[i] = probs[row, : items[i].n_words]  # type: ignore[union-attr]
    return out


def evaluate_cached(
    model: TaggerMethod, items: Sequence[SentenceItem | None], examples: Sequence[Example]
) -> dict[str, float]:
    """Span micro-F1 like `evaluate`, but on cached lower-layer states (fast; for
    model selection and benchmarks; the frozen layers ran once, in fp16)."""
    return span_report_from_probs(examples, cached_tag_probs(model, items))


def span_report_from_probs(examples: Sequence[Example], probs: Sequence[torch.Tensor]) -> dict[str, float]:
    """Span micro-F1 of tag distributions decoded like a model's own (one [n_words, 13] tensor per
    example): scores probabilities no single model produced, e.g. an ensemble's mean."""
    gold, guess = [], []
    for ex, p in zip(examples, probs):
        gold.append([(s.start, s.end, s.polarity) for s in (ex.spans or ())])
        spans = spans_from_probs(ex.text, words_of(ex).spans, p)
        guess.append([(s.start, s.end, s.polarity) for s in spans])
    return span_report(gold, guess)


def tagger_state(model: TaggerMethod) -> dict[str, torch.Tensor]:
    """A copy of the trained weights without the critic: what another tagger or MSMO model starts from."""
    return {k: v.clone() for k, v in model.trained_state_dict().items() if not k.startswith("critic.")}


def load_best_(model: torch.nn.Module, folder: Any) -> None:
    """Load the weights `training.fit` saved in `folder` (its best step) into `model`."""
    from pathlib import Path

    from safetensors.torch import load_file

    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        return
    own = model.state_dict()
    weights = load_file(str(path))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in weights.items() if k in own}, strict=False)
