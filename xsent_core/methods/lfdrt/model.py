"""LFD-RT: language-family disentanglement and rethinking transfer (sentence polarity).

Forward path of one row (Section 3.3, adapted to a shared sentence-encoder base):
  text -> normalise -> encoder (top layers trainable, the rest frozen/cached)
  -> token states H
  -> family routing: anchor-language rows (English) keep H (the paper's
     anchor features); other rows go through their family's disentangler
     f_k(H) = W_k H (families.json; unknown languages keep H, with a warning)
  -> fusion: cross-attention with the image feature as query (or, for a row
     without an image, a learned text-only query) over the routed text tokens
     as keys/values -> z
  -> two MLP heads -> decision rule (agree: that label; else the more
     confident head).
Pre-training losses (Eq. 17): unified contrastive alignment of English and
translated sentences (and of text and image when rows have images), the
disentanglement losses (masked LM through the own family's disentangler
attending to the English sentence, KL to uniform for the other families),
the two heads' cross-entropy and a masked LM on the fused vector.
Rethinking (Section 3.4) lives in `train.py`; its per-batch loss is here.

Choices the paper leaves open are listed in `docs` of the package README
(`xsent_core/methods/lfdrt/README.md`).
"""
from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F

from ...config import replace_config
from ...types import SENTIMENT_LABELS, CheckpointError, Example, InputError, Prediction
from ..base import Method, TrainConfig, window_shuffled_chunks
from ..panels import Distributions, TokenScores, panel_dict
from ..common import MAX_CHARS, FrozenStateCache, frozen_states, pad_stack, upper_states
from . import losses as L
from .config import LfdrtConfig
from .families import FamilyTable, Route, load_family_table
from .layers import CrossAttention, FamilyDisentanglers, MlmHead, MlpHead

NO_IMAGE_MODEL = "this LFD-RT model was trained without images; the image was ignored"
HEAD_INPUTS = ("fused", "fused+pooled")


@dataclass
class PretrainItems:
    """Prepared pre-training data: labelled rows (one epoch = one pass over them)
    and parallel pairs (drawn alongside, one pair batch per labelled batch)."""

    labelled: list[dict[str, Any]]
    pairs: list[dict[str, Any]] = field(default_factory=list)
    active_families: tuple[int, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labelled)


class RethinkItems(list):
    """Prepared rethinking rows: frozen lower-layer states (clean and BERT-masked), family, masked words."""


@dataclass
class Features:
    """One pass over token states: the top encoder states and what each head reads."""

    hidden: torch.Tensor  # [B, T, D] top encoder states (before routing)
    z: torch.Tensor  # [B, D] fused vector
    x1: torch.Tensor  # head 1's input
    x2: torch.Tensor  # head 2's input
    weights: torch.Tensor  # [B, heads, 1, T] fusion attention


@dataclass
class Forward:
    """What one inference pass gives per batch."""

    probs1: torch.Tensor
    probs2: torch.Tensor
    z: torch.Tensor
    weights: torch.Tensor | None  # [B, heads, 1, T] fusion attention
    ids: list[torch.Tensor]


class LfdrtMethod(Method):
    name = "lfdrt"
    config_cls = LfdrtConfig
    task = "sentence"
    extra_inputs = frozenset({"image"})
    shows = "both heads and the fusion attention"
    jobs = frozenset({"rethink"})

    def __init__(self, config: LfdrtConfig, encoder: Any, image_encoder: Any = None) -> None:
        table = load_family_table(overrides=config.family_overrides, anchor_language=config.anchor_language)
        if config.families and tuple(config.families) != table.families:
            raise CheckpointError(
                "this LFD-RT model was built for the language families "
                f"{list(config.families)}, but the family table has {list(table.families)}; "
                "retrain, or restore the table the model was trained with"
            )
        if not config.families:
            config = replace_config(config, families=list(table.families))
        for key, allowed in (("kl_families", ("active", "all")), ("head_inputs", HEAD_INPUTS),
                             ("rethink_train", ("heads", "top")), ("rethink_class_weights", ("none", "balanced")),
                             ("rethink_prior", ("model", "uniform"))):
            if getattr(config, key) not in allowed:
                raise CheckpointError(f"{key} must be one of {list(allowed)}, got {getattr(config, key)!r}")
        if not 0.0 < config.rethink_keep <= 1.0:
            raise CheckpointError(f"rethink_keep must be in (0, 1], got {config.rethink_keep}")
        if config.image_encoder is not None and image_encoder is None:
            raise CheckpointError(f"config names image encoder {config.image_encoder!r} but none was given")
        super().__init__(config)
        self.table: FamilyTable = table
        self.encoder = encoder
        encoder.freeze(below_layer=config.train_from_layer)
        self.image_encoder = image_encoder
        if image_encoder is not None:
            image_encoder.requires_grad_(False)
        d = encoder.info.hidden_size
        # one seed for every new layer: the same config builds the same initial model
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.disentanglers = (
                FamilyDisentanglers(table.size, d, config.disentangler_rank) if config.use_disentanglers else None
            )
            self.attention = CrossAttention(d, config.attn_heads)
            self.text_query = torch.nn.Parameter(torch.randn(d) * 0.02)
            self.image_proj = (
                torch.nn.Linear(image_encoder.info.feature_dim, d) if image_encoder is not None else None
            )
            self.mlm_lfd = MlmHead(d, d)
            self.mlm_fusion = MlmHead(d, d)
            self.mlm_rethink = MlmHead(config.head_hidden, d)
            n = len(SENTIMENT_LABELS)
            self.head1 = MlpHead(d, config.head_hidden, n, config.dropout)
            self.head2 = MlpHead(d, config.head_hidden, n, config.dropout)
        self.stage = "pretrain"  # "rethink" while rethinking: only the heads train
        self.lower_cache: FrozenStateCache | None = None
        self._prefix_len: int | None = None

    # -- construction -----------------------------------------------------------
    @classmethod
    def create(cls, config: LfdrtConfig, device: Any = "cpu") -> "LfdrtMethod":
        from ...encoders.registry import load_text_encoder

        image_encoder = None
        if config.image_encoder is not None:
            from ...encoders.image import load_image_encoder

            image_encoder = load_image_encoder(config.image_encoder, device=device)
        return cls(config, load_text_encoder(config.encoder, device=device), image_encoder).to(device)

    def encoder_fingerprint(self) -> str:
        fp = self.encoder.info.fingerprint
        if self.image_encoder is not None:
            fp += "+" + self.image_encoder.info.fingerprint
        return fp

    @classmethod
    def run_preset(cls, preset: Any, out_dir: Any, options: Any) -> dict[str, Any]:
        from .train import run_preset

        return run_preset(cls, preset, out_dir, options)

    # -- routing ----------------------------------------------------------------
    def route(self, lang: str | None, text: str = "") -> Route:
        return self.table.route(lang, text)

    def _family_index(self, route: Route) -> int:
        """Disentangler index for a route, -1 for the anchor/shared path (or no disentanglers)."""
        if self.disentanglers is None or route.index is None:
            return -1
        return route.index

    # -- tokenising and cached lower layers -------------------------------------
    def _tokenise(self, texts: Sequence[str], max_length: int | None) -> tuple[list[torch.Tensor], list[bool]]:
        enc = self.encoder.encode_texts(list(texts), prefix=self.config.prefix, max_length=max_length)
        ids = [row[m.bool()] for row, m in zip(enc["input_ids"], enc["attention_mask"])]
        return ids, list(enc["truncated"])

    def _text_start(self) -> int:
        """Index of the first sub-token of the text itself (after <s> and the prefix)."""
        if self._prefix_len is None:
            tok = self.encoder.tokenizer
            a = tok(self.config.prefix + "x")["input_ids"]
            b = tok(self.config.prefix + "y")["input_ids"]
            n = 0
            while n < min(len(a), len(b)) and a[n] == b[n]:
                n += 1
            self._prefix_len = n
        return self._prefix_len

    def _mask(self, ids: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        tok = self.encoder.tokenizer
        specials = set(tok.all_special_ids)
        special = torch.tensor([int(i) in specials for i in ids.tolist()], dtype=torch.bool)
        maskable = ~special
        maskable[: self._text_start()] = False
        return L.bert_mask(
            ids,
            maskable,
            mask_id=int(tok.mask_token_id),
            vocab_size=int(self.encoder.info.vocab_size),
            prob=self.config.mask_prob,
            generator=generator,
        )

    def _lower(self, ids: Sequence[torch.Tensor], dtype: torch.dtype = torch.float16) -> list[torch.Tensor]:
        layer = self.config.train_from_layer
        if self.lower_cache is None:
            return frozen_states(self.encoder, ids, layer, dtype=dtype)
        fp = self.encoder.info.fingerprint
        keys = [(fp, layer, i.numpy().tobytes()) for i in ids]
        by_key = dict(zip(keys, ids))
        states = self.lower_cache.fill(
            keys, lambda missing: frozen_states(self.encoder, [by_key[k] for k in missing], layer, dtype=torch.float16),
        )
        return [state.to(dtype) for state in states]

    # -- images -----------------------------------------------------------------
    def _images(self, examples: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, ...]]]:
        """(pooled [N, D] zeros where none, has_image [N], warnings per row)."""
        n = len(examples)
        warns: list[tuple[str, ...]] = [() for _ in range(n)]
        if self.image_encoder is None:
            for i, ex in enumerate(examples):
                if ex.image:
                    warns[i] = (NO_IMAGE_MODEL,)
            return torch.zeros((n, 1)), torch.zeros(n, dtype=torch.bool), warns
        from ...images import load_image

        pooled = torch.zeros((n, self.image_encoder.info.feature_dim))
        has = torch.zeros(n, dtype=torch.bool)
        pictures, where = [], []
        for i, ex in enumerate(examples):
            if not ex.image:
                continue
            try:
                pictures.append(load_image(ex.image))
                where.append(i)
            except InputError as e:
                warns[i] = (f"image not used: {e}",)
        if pictures:
            feats = self.image_encoder.encode(pictures)
            pooled[where] = feats.pooled.float()
            has[where] = True
        return pooled, has, warns

    # -- pieces of the forward pass ---------------------------------------------
    def _routed(self, hidden: torch.Tensor, family: torch.Tensor) -> torch.Tensor:
        if self.disentanglers is None:
            return hidden
        return self.disentanglers(hidden, family)

    def _fuse(
        self, text: torch.Tensor, mask: torch.Tensor, image: torch.Tensor | None, has_image: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 11: one query per row (projected image feature, or the learned text-only query)."""
        b = text.shape[0]
        query = self.text_query.view(1, 1, -1).expand(b, 1, -1)
        if self.image_proj is not None and image is not None and has_image is not None and bool(has_image.any()):
            projected = self.image_proj(image.to(text.dtype)).unsqueeze(1)
            query = torch.where(has_image.view(b, 1, 1), projected, query)
        out, weights = self.attention(query, text, mask)
        return out[:, 0], weights

    def _features(
        self, lower: torch.Tensor, mask: torch.Tensor, family: torch.Tensor,
        image: torch.Tensor | None = None, has_image: torch.Tensor | None = None,
    ) -> Features:
        """Cached lower states -> top layers -> family routing -> fusion -> each head's input."""
        return self._routed_features(self._upper(lower, mask), mask, family, image, has_image)

    def _routed_features(
        self, hidden: torch.Tensor, mask: torch.Tensor, family: torch.Tensor,
        image: torch.Tensor | None = None, has_image: torch.Tensor | None = None,
    ) -> Features:
        routed = self._routed(hidden, family)
        z, weights = self._fuse(routed, mask, image, has_image)
        x2 = self.encoder.mean_pool(routed, mask).to(z.dtype) if self.config.head_inputs == "fused+pooled" else z
        return Features(hidden, z, z, x2, weights)

    def _decoder(self, candidates: torch.Tensor | None) -> torch.Tensor:
        weight = self.encoder.model.get_input_embeddings().weight
        return weight if candidates is None else weight[candidates]

    def _candidates(self, *targets: torch.Tensor) -> torch.Tensor | None:
        """Words scored by the masked-LM softmax: the batch's words plus random vocabulary rows."""
        if self.config.mlm_negatives <= 0:
            return None
        device = targets[0].device
        words = torch.cat([t[t >= 0].flatten() for t in targets])
        negatives = torch.randint(int(self.encoder.info.vocab_size), (self.config.mlm_negatives,), device=device)
        return torch.unique(torch.cat([words, negatives]))

    @staticmethod
    def _remap(targets: torch.Tensor, candidates: torch.Tensor | None) -> torch.Tensor:
        if candidates is None:
            return targets
        idx = torch.searchsorted(candidates, targets.clamp_min(0))
        return torch.where(targets == L.IGNORE, torch.full_like(targets, L.IGNORE), idx)

    # -- preparing data ---------------------------------------------------------
    def _masked_copies(self, ids: Sequence[torch.Tensor], seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        gen = torch.Generator().manual_seed(seed)
        pairs = [self._mask(i, gen) for i in ids]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def prepare(self, examples: Sequence[Example]) -> PretrainItems:
        """Labelled rows only (the contract); see `prepare_pretraining` for pairs."""
        return self.prepare_pretraining(examples, [])

    def prepare_pretraining(
        self, labelled: Sequence[Example], pairs: Sequence[tuple[Example, Example]]
    ) -> PretrainItems:
        """Tokenise, mask (BERT 15 %, seeded) and run the frozen layers once.

        `labelled`: rows with a sentence label (others are skipped), any language.
        `pairs`: (anchor-language sentence, its translation) already verified.
        A sentence that is both a labelled row and an anchor runs the frozen layers once.
        """
        own_cache = self.lower_cache is None
        if own_cache:
            self.lower_cache = FrozenStateCache()
        try:
            return self._prepare_pretraining(labelled, pairs)
        finally:
            if own_cache:
                self.lower_cache = None

    @torch.inference_mode()
    def _prepare_pretraining(
        self, labelled: Sequence[Example], pairs: Sequence[tuple[Example, Example]]
    ) -> PretrainItems:
        from ..common import normalized_text

        rows = [ex for ex in labelled if ex.label is not None]
        texts = [normalized_text(ex)[0] for ex in rows]
        ids, _ = self._tokenise(texts, self.config.max_length)
        masked, targets = self._masked_copies(ids, self.config.seed)
        lower = self._lower(ids)
        lower_m = self._lower(masked)
        pooled, has_image, _ = self._images(rows)
        labelled_items = []
        for n, ex in enumerate(rows):
            fam = self._family_index(self.route(ex.lang, texts[n]))
            labelled_items.append(
                {
                    "lower": lower[n],
                    "lower_m": lower_m[n],
                    "targets": targets[n],
                    "label": SENTIMENT_LABELS.index(ex.label),
                    "family": fam,
                    "has_image": bool(has_image[n]),
                    "image": pooled[n],
                }
            )
        pair_items = []
        active: set[int] = set()
        if pairs:
            src = [normalized_text(a)[0] for a, _ in pairs]
            tgt = [normalized_text(b)[0] for _, b in pairs]
            src_ids, _ = self._tokenise(src, self.config.max_length)
            tgt_ids, _ = self._tokenise(tgt, self.config.max_length)
            tgt_masked, tgt_targets = self._masked_copies(tgt_ids, self.config.seed + 1)
            src_lower = self._lower(src_ids)
            tgt_lower = self._lower(tgt_ids)
            tgt_lower_m = self._lower(tgt_masked)
            for n, (_, b) in enumerate(pairs):
                route = self.table.route(b.lang, tgt[n], anchor_path=False)
                fam = route.index if route.index is not None else -1
                if fam >= 0:
                    active.add(fam)
                pair_items.append(
                    {
                        "an_lower": src_lower[n],
                        "ts_lower": tgt_lower[n],
                        "ts_lower_m": tgt_lower_m[n],
                        "ts_targets": tgt_targets[n],
                        "family": fam,
                    }
                )
        facts = {
            "labelled_rows": len(labelled_items),
            "pairs": len(pair_items),
            "active_families": sorted(self.table.families[i] for i in active),
            "images": int(has_image.sum()) if len(rows) else 0,
        }
        return PretrainItems(labelled_items, pair_items, tuple(sorted(active)), facts)

    def _bootstrap_counts(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """How often each labelled row is drawn in each head's bootstrap sample (n draws with replacement)."""
        gen = torch.Generator().manual_seed(self.config.seed + 5)
        return tuple(torch.bincount(torch.randint(n, (n,), generator=gen), minlength=n) for _ in range(2))  # type: ignore[return-value]

    # -- batching ---------------------------------------------------------------
    def batches(self, prepared: Any, batch_size: int, shuffle: bool, generator: random.Random) -> Iterator[Any]:
        if not isinstance(prepared, PretrainItems):
            yield from super().batches(prepared, batch_size, shuffle, generator)
            return
        chunks = window_shuffled_chunks(len(prepared.labelled), batch_size, shuffle, generator,
                                        lambda j: len(prepared.labelled[j]["lower"]))
        # per-head bootstrap weights come from this model's config, not the prepared rows (shared by models)
        boot = self._bootstrap_counts(len(prepared.labelled)) if self.config.head_bootstrap else None
        pair_order = list(range(len(prepared.pairs)))
        if shuffle:
            generator.shuffle(pair_order)
        for c, chunk in enumerate(chunks):
            batch: dict[str, Any] = {"kind": "pretrain", "active": list(prepared.active_families)}
            batch["lab"] = self._collate_labelled([prepared.labelled[i] for i in chunk])
            if boot is not None:
                batch["lab"].update(boot1=boot[0][chunk].float(), boot2=boot[1][chunk].float())
            if pair_order:
                take = [pair_order[(c * batch_size + k) % len(pair_order)] for k in range(min(batch_size, len(pair_order)))]
                batch["pair"] = self._collate_pairs([prepared.pairs[i] for i in take])
            yield batch

    def _collate_labelled(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {
            "lower": pad_stack([it["lower"] for it in items]),
            "lower_m": pad_stack([it["lower_m"] for it in items]),
            "mask": pad_stack([torch.ones(len(it["lower"]), dtype=torch.long) for it in items]),
            "targets": pad_stack([it["targets"] for it in items], value=L.IGNORE),
            "label": torch.tensor([it["label"] for it in items]),
            "family": torch.tensor([it["family"] for it in items]),
            "has_image": torch.tensor([it["has_image"] for it in items]),
            "image": torch.stack([it["image"] for it in items]),
        }

    def _collate_pairs(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {
            "an_lower": pad_stack([it["an_lower"] for it in items]),
            "an_mask": pad_stack([torch.ones(len(it["an_lower"]), dtype=torch.long) for it in items]),
            "ts_lower": pad_stack([it["ts_lower"] for it in items]),
            "ts_lower_m": pad_stack([it["ts_lower_m"] for it in items]),
            "ts_mask": pad_stack([torch.ones(len(it["ts_lower"]), dtype=torch.long) for it in items]),
            "ts_targets": pad_stack([it["ts_targets"] for it in items], value=L.IGNORE),
            "family": torch.tensor([it["family"] for it in items]),
        }

    def collate(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Rethinking rows (the base batching calls this for `RethinkItems`)."""
        batch = {
            "kind": "rethink",
            "lower": pad_stack([it["lower"] for it in items]),
            "lower_m": pad_stack([it["lower_m"] for it in items]),
            "mask": pad_stack([torch.ones(len(it["lower"]), dtype=torch.long) for it in items]),
            "family": torch.tensor([it["family"] for it in items]),
            "has_image": torch.tensor([it["has_image"] for it in items]),
            "image": torch.stack([it["image"] for it in items]),
            "words": pad_stack([it["words"] for it in items], value=L.IGNORE),
            "pseudo": torch.tensor([it.get("pseudo", -1) for it in items]),
        }
        if "class_weights" in items[0]:
            batch["class_weights"] = items[0]["class_weights"]
        return batch

    # -- losses -----------------------------------------------------------------
    def forward_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        if batch["kind"] == "rethink":
            return self.rethink_loss(batch)
        return self.pretrain_loss(batch)

    def _upper(self, lower: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return upper_states(self.encoder, lower, mask, self.config.train_from_layer)

    @staticmethod
    def _row_words(targets: torch.Tensor) -> torch.Tensor:
        """[B, T] per-position targets -> [B, M] each row's masked words (IGNORE-padded)."""
        rows = [t[t != L.IGNORE] for t in targets]
        if not any(len(r) for r in rows):
            return torch.full((len(rows), 1), L.IGNORE, dtype=torch.long, device=targets.device)
        return pad_stack(rows, value=L.IGNORE)

    def pretrain_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        parts, logged = self.pretrain_terms(batch)
        return {"loss": L.pretraining_loss(parts), **logged}

    def pretrain_terms(self, batch: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(the weighted terms of Eq. 17 and those beyond it, each with its graph; detached raw values to log).

        Separate from `pretrain_loss` so a benchmark can measure each term's gradient share."""
        c = self.config
        lab = batch["lab"]
        zero = lab["lower"].new_zeros((), dtype=torch.float32)
        parts: dict[str, torch.Tensor] = {}
        # sentiment: two heads on the fused vector, masked LM on the fused vector of the masked text
        feats = self._features(lab["lower"], lab["mask"], lab["family"], lab["image"], lab["has_image"])
        hidden = feats.hidden
        # each head on its own input and (with head_bootstrap) its own bootstrap sample of the rows
        ce1 = L.weighted_mean(F.cross_entropy(self.head1(feats.x1), lab["label"], reduction="none"), lab.get("boot1"))
        ce2 = L.weighted_mean(F.cross_entropy(self.head2(feats.x2), lab["label"], reduction="none"), lab.get("boot2"))
        z_m = self._features(lab["lower_m"], lab["mask"], lab["family"], lab["image"], lab["has_image"]).z
        words = self._row_words(lab["targets"])
        cands = self._candidates(words)
        fusion_logits = self.mlm_fusion(z_m, self._decoder(cands))
        has_words = (words != L.IGNORE).any(1)
        mask2 = L.bag_of_words_mlm_loss(fusion_logits, self._remap(words, cands))[has_words].mean() if bool(has_words.any()) else zero
        parts["sa"] = L.sentiment_loss(ce1, ce2, mask2, c.beta1, c.beta2, c.beta3)
        if c.routed_sentiment > 0 and self.disentanglers is not None and batch.get("active"):
            # the heads read English rows through a family's disentangler too, as target rows arrive
            # at test; keeps each disentangler from discarding what sentiment needs
            active = torch.tensor(batch["active"], device=hidden.device)
            family = active[torch.randint(len(active), (hidden.shape[0],), device=hidden.device)]
            routed = self._routed_features(hidden, lab["mask"], family, lab["image"], lab["has_image"])
            parts["routed_sa"] = c.routed_sentiment * (
                F.cross_entropy(self.head1(routed.x1), lab["label"]) + F.cross_entropy(self.head2(routed.x2), lab["label"])
            )
        overlap = L.head_overlap(self.head1.fc1.weight, self.head2.fc1.weight)
        if c.head_orthogonality > 0:
            parts["diversity"] = c.head_orthogonality * overlap
        # cross-modal alignment (text vs image) on rows with images
        cma = zero
        img = lab["has_image"]
        if self.image_proj is not None and int(img.sum()) >= 2:
            text_vec = self.encoder.mean_pool(hidden[img], lab["mask"][img])
            cma = L.unified_contrastive_loss(text_vec, self.image_proj(lab["image"][img]), c.temperature)
        cla, mask1, kl, consistency = zero, zero, zero, zero
        if "pair" in batch:
            pair = batch["pair"]
            h_an = self._upper(pair["an_lower"], pair["an_mask"])
            h_ts = self._upper(pair["ts_lower"], pair["ts_mask"])
            cla = L.unified_contrastive_loss(
                self.encoder.mean_pool(h_an, pair["an_mask"]), self.encoder.mean_pool(h_ts, pair["ts_mask"]), c.temperature
            )
            if self.disentanglers is not None:
                mask1, kl = self._disentangle_losses(pair, h_an, list(batch.get("active", [])))
            if c.pair_consistency > 0:
                consistency = self._pair_consistency(pair)
                parts["consistency"] = c.pair_consistency * consistency
        parts["align"] = cla + cma
        parts["lfd"] = L.lfd_loss(mask1, kl, c.alpha1, c.alpha2)
        return parts, {
            "head_overlap": overlap.detach(),
            "consistency": consistency.detach(),
            "ce1": ce1.detach(),
            "ce2": ce2.detach(),
            "mask2": mask2.detach(),
            "cla": cla.detach(),
            "cma": cma.detach(),
            "mask1": mask1.detach(),
            "kl": kl.detach(),
        }

    def _pair_consistency(self, pair: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Both heads on each translation, routed as a target row is at test, against their English reading."""
        none = torch.full_like(pair["family"], -1)
        anchor = self._features(pair["an_lower"], pair["an_mask"], none)
        translation = self._features(pair["ts_lower"], pair["ts_mask"], pair["family"])
        return (
            L.consistency_loss(self.head1(anchor.x1), self.head1(translation.x1))
            + L.consistency_loss(self.head2(anchor.x2), self.head2(translation.x2))
        ) / 2

    def _disentangle_losses(
        self, pair: Mapping[str, torch.Tensor], h_an: torch.Tensor, active: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 5-9: masked translation tokens through family disentanglers, attending to the
        anchor sentence; own family -> masked LM, the other families -> KL to uniform."""
        assert self.disentanglers is not None
        zero = h_an.new_zeros(())
        h_m = self._upper(pair["ts_lower_m"], pair["ts_mask"])
        targets, family = pair["ts_targets"], pair["family"]
        picked = targets != L.IGNORE  # [B, T]
        cands = self._candidates(targets)
        decoder = self._decoder(cands)
        own = picked & (family >= 0).unsqueeze(1)
        mask1 = zero
        if bool(own.any()):
            u, _ = self.attention(self.disentanglers(h_m, family), h_an, pair["an_mask"])
            mask1 = L.masked_lm_loss(self.mlm_lfd(u[own], decoder), self._remap(targets[own], cands))
        others = list(range(self.disentanglers.families)) if self.config.kl_families == "all" else active
        kls = []
        for k in others:
            rows = picked & (family != k).unsqueeze(1)
            if not bool(rows.any()):
                continue
            u, _ = self.attention(self.disentanglers.apply_family(h_m, k), h_an, pair["an_mask"])
            kls.append(L.kl_to_uniform(self.mlm_lfd(u[rows], decoder)))
        kl = torch.stack(kls).mean() if kls else zero
        return mask1, kl

    def rethink_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Eq. 18 with the pseudo-labels chosen at the start (`batch["pseudo"]`, -1 = masked-LM row).

        With rethink_train="heads" only the heads (and the new MLM projection) learn, on
        features computed without gradients; with "top" the gradients reach the fusion,
        the disentanglers and the trained top encoder layer(s) as well.
        """
        c = self.config
        args = (batch["mask"], batch["family"], batch["image"], batch["has_image"])
        with contextlib.nullcontext() if c.rethink_train == "top" else torch.no_grad():
            clean = self._features(batch["lower"], *args)
            masked = self._features(batch["lower_m"], *args)
        logits1, logits2 = self.head1(clean.x1), self.head2(clean.x2)
        words = batch["words"]
        cands = self._candidates(words)
        decoder = self._decoder(cands)
        target = self._remap(words, cands)
        mlm = (
            L.bag_of_words_mlm_loss(self.mlm_rethink(self.head1.hidden(masked.x1), decoder), target)
            + L.bag_of_words_mlm_loss(self.mlm_rethink(self.head2.hidden(masked.x2), decoder), target)
        ) / 2
        out = L.rethinking_loss(
            logits1, logits2, mlm, batch["pseudo"], lambda1=c.lambda1, lambda2=c.lambda2,
            class_weights=batch.get("class_weights"),
        )
        labelled = out.pop("labelled")
        agree = logits1.detach().argmax(-1) == logits2.detach().argmax(-1)
        return {**{k: (v if k == "loss" else v.detach()) for k, v in out.items()},
                "labelled_rate": labelled.float().mean(), "agree_rate": agree.float().mean()}

    def rethink_named_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """What rethinking trains: the heads and the rethinking MLM projection, plus with
        rethink_train="top" every other trained part the classification path reads."""
        own = ("head1.", "head2.", "mlm_rethink.")
        unused = ("mlm_lfd.", "mlm_fusion.")  # pre-training's masked-LM transforms
        top = self.config.rethink_train == "top"
        return [
            (n, p) for n, p in self.named_parameters()
            if n.startswith(own) or (top and p.requires_grad and not n.startswith(unused))
        ]

    def param_groups(self, train: TrainConfig) -> list[dict[str, Any]]:
        if self.stage == "rethink":
            named = self.rethink_named_parameters()
            groups = [{"params": [p for n, p in named if not n.startswith("encoder.")], "lr": train.head_lr, "name": "rethink"}]
            encoder = [p for n, p in named if n.startswith("encoder.")]
            if encoder:
                groups.append({"params": encoder, "lr": train.lr, "name": "encoder"})
            return groups
        return super().param_groups(train)

    # -- inference --------------------------------------------------------------
    def _encode_rows(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Normalise, route and tokenise rows (no model run yet)."""
        from ...text import normalize

        norm = [normalize(ex.text, max_chars=MAX_CHARS) for ex in examples]
        texts = [n.text for n in norm]
        routes = [self.route(ex.lang, t) for ex, t in zip(examples, texts)]
        ids, truncated = self._tokenise(texts, None)
        warnings = []
        for n, (nt, route) in enumerate(zip(norm, routes)):
            w = list(nt.warnings)
            if truncated[n]:
                w.append(f"text longer than the encoder's {self.encoder.info.max_length} sub-tokens; only the start was read")
            if not nt.text.strip():
                w.append("empty text: the prediction reflects no content")
            if route.warning:
                w.append(route.warning)
            warnings.append(w)
        return {"norm": norm, "texts": texts, "routes": routes, "ids": ids, "warnings": warnings}

    @torch.inference_mode()
    def _run(
        self,
        ids: Sequence[torch.Tensor],
        families: Sequence[int],
        image: torch.Tensor,
        has_image: torch.Tensor,
        batch_size: int = 32,
        masked_words: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Fused vectors and both heads' probabilities for token id rows, in input order.

        Returns (z [N, D], probs1 [N, C], probs2 [N, C], fusion attention per row [heads, T])."""
        self.eval()
        device = self.device
        n = len(ids)
        d = self.encoder.info.hidden_size
        z = torch.zeros((n, d))
        p1 = torch.zeros((n, len(SENTIMENT_LABELS)))
        p2 = torch.zeros_like(p1)
        attn: list[torch.Tensor] = [torch.zeros(0)] * n
        order = sorted(range(n), key=lambda i: len(ids[i]))
        for start in range(0, n, batch_size):
            chunk = order[start : start + batch_size]
            lower = self._lower([ids[i] for i in chunk], dtype=torch.float32)
            mask = pad_stack([torch.ones(len(ids[i]), dtype=torch.long) for i in chunk]).to(device)
            fam = torch.tensor([families[i] for i in chunk], device=device)
            feats = self._features(pad_stack(lower).to(device), mask, fam, image[chunk].to(device), has_image[chunk].to(device))
            z[chunk] = feats.z.float().cpu()
            p1[chunk] = self.head1(feats.x1).softmax(-1).float().cpu()
            p2[chunk] = self.head2(feats.x2).softmax(-1).float().cpu()
            for row, i in enumerate(chunk):
                attn[i] = feats.weights[row, :, 0, : len(ids[i])].float().cpu()
        return z, p1, p2, attn

    def _infer(self, examples: Sequence[Example], batch_size: int = 32) -> dict[str, Any]:
        rows = self._encode_rows(examples)
        image, has_image, image_warnings = self._images(examples)
        families = [self._family_index(r) for r in rows["routes"]]
        z, p1, p2, attn = self._run(rows["ids"], families, image, has_image, batch_size)
        for w, extra in zip(rows["warnings"], image_warnings):
            w.extend(extra)
        return {**rows, "z": z, "probs1": p1, "probs2": p2, "attention": attn, "has_image": has_image}

    @staticmethod
    def _probs_dict(p: torch.Tensor) -> dict[str, float]:
        return {lab: float(v) for lab, v in zip(SENTIMENT_LABELS, p)}

    def predict(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        if not examples:
            return []
        out = self._infer(examples, batch_size)
        label, agree, probs = L.decide(out["probs1"], out["probs2"])
        preds = []
        for i in range(len(examples)):
            route = out["routes"][i]
            preds.append(
                Prediction(
                    label=SENTIMENT_LABELS[int(label[i])],
                    probs=self._probs_dict(probs[i]),
                    extras={
                        "heads_agree": bool(agree[i]),
                        "head1_probs": self._probs_dict(out["probs1"][i]),
                        "head2_probs": self._probs_dict(out["probs2"][i]),
                        "family": route.family,
                        "family_source": route.source,
                        "image_used": bool(out["has_image"][i]),
                    },
                    notes=head_notes(bool(agree[i]), self._probs_dict(out["probs1"][i]), self._probs_dict(out["probs2"][i]), route.family),
                    warnings=tuple(out["warnings"][i]),
                )
            )
        return preds

    def explain(self, example: Example) -> dict[str, Any]:
        """Both heads' distributions, their agreement, the family routing weights and
        the fusion attention over the text's sub-tokens (offsets into the original text)."""
        out = self._infer([example])
        label, agree, probs = L.decide(out["probs1"], out["probs2"])
        route: Route = out["routes"][0]
        used = self._family_index(route)
        routing = {fam: 0.0 for fam in self.table.families}
        routing["shared"] = 0.0
        routing[self.table.families[used] if used >= 0 else "shared"] = 1.0
        p1, p2 = out["probs1"][0], out["probs2"][0]
        decided_by = "agreement" if bool(agree[0]) else ("head_1" if float(p1.max()) >= float(p2.max()) else "head_2")
        heads = {"head_1": self._probs_dict(p1), "head_2": self._probs_dict(p2)}
        attention = self._token_attention(out["norm"][0], out["ids"][0], out["attention"][0])
        panels = [panel_dict(Distributions("Both heads" + (" (agree)" if bool(agree[0]) else " (disagree)"), heads))]
        if attention["tokens"]:
            weights = attention["weights"]
            panels.append(panel_dict(TokenScores(
                "Fusion attention per sub-token", tuple(attention["tokens"]), tuple(round(w, 4) for w in weights), "weight",
                tuple(tuple(o) for o in attention["offsets"]), vmax=max(weights),
            )))
        return {
            "label": SENTIMENT_LABELS[int(label[0])],
            "probs": self._probs_dict(probs[0]),
            "heads": heads,
            "heads_agree": bool(agree[0]),
            "decided_by": decided_by,
            "family": {
                **route.to_dict(),
                "name": self.table.names.get(route.family, route.family),
                # not "path": API clients take any {"path": str} for a file to download
                "route": "disentangler" if used >= 0 else ("anchor" if route.source == "anchor" else "shared"),
            },
            "routing": routing,
            "query": "image" if bool(out["has_image"][0]) else "text",
            "attention": attention,
            "warnings": list(out["warnings"][0]),
            "panels": panels,
        }

    def _token_attention(self, norm: Any, ids: torch.Tensor, weights: torch.Tensor) -> dict[str, Any]:
        """Fusion attention (mean over heads) on each text sub-token, with original-text offsets.
        Weight on <s>, </s> and the prompt prefix is reported as `other_weight`."""
        tok = self.encoder.tokenizer
        enc = tok(self.config.prefix + norm.text, return_offsets_mapping=True, truncation=True,
                  max_length=self.encoder.info.max_length)
        offsets = enc["offset_mapping"][: len(ids)]
        w = weights.mean(0) if weights.numel() else torch.zeros(len(ids))
        pieces = tok.convert_ids_to_tokens(ids.tolist())
        plen = len(self.config.prefix)
        tokens, spans, values = [], [], []
        other = 0.0
        for pos, (s, e) in enumerate(offsets):
            if pos < self._text_start() or e <= s or e <= plen or pos >= len(w):
                other += float(w[pos]) if pos < len(w) else 0.0
                continue
            start, end = norm.to_original(max(0, s - plen), e - plen)
            tokens.append(pieces[pos])
            spans.append([start, end])
            values.append(float(w[pos]))
        return {"tokens": tokens, "offsets": spans, "weights": values, "other_weight": other}

    def evaluate(self, examples: Sequence[Example]) -> dict[str, float]:
        from ...evaluation import flat_sentence_metrics, prediction_report

        rows = [ex for ex in examples if ex.label is not None]
        if not rows:
            return {"n": 0.0}
        preds = self.predict(rows)
        return {
            **flat_sentence_metrics(prediction_report([ex.label for ex in rows], preds)),
            "heads_agree": sum(bool(p.extras["heads_agree"]) for p in preds) / len(preds),
        }

    # -- head agreement for the annotation queue -------------------------------
    def head_agreement(self, examples: Sequence[Example], batch_size: int = 32) -> list[bool]:
        """Per row: do the two heads predict the same label?"""
        if not examples:
            return []
        out = self._infer(examples, batch_size)
        return [bool(a) for a in L.heads_agree(out["probs1"], out["probs2"])]

    def disagreement_rate(self, examples: Sequence[Example], batch_size: int = 32) -> float:
        """Fraction of rows where the heads disagree (0.0 for no rows)."""
        from .agreement import disagreement_rate

        return disagreement_rate(self.head_agreement(examples, batch_size))

    def annotation_order(self, examples: Sequence[Example], batch_size: int = 32) -> list[int]:
        """Row indices for the annotation queue: disagreeing rows first, then by confidence (low first)."""
        from .agreement import annotation_order

        if not examples:
            return []
        out = self._infer(examples, batch_size)
        _, agree, probs = L.decide(out["probs1"], out["probs2"])
        return annotation_order([bool(a) for a in agree], [float(p.max()) for p in probs])

    # -- rethinking -------------------------------------------------------------
    @torch.inference_mode()
    def prepare_rethinking(self, examples: Sequence[Example], routes: Sequence[Route]) -> RethinkItems:
        """Frozen lower-layer states of unlabelled rows, clean and BERT-masked (labels are never read)."""
        from ..common import normalized_text

        texts = [normalized_text(ex)[0] for ex in examples]
        ids, _ = self._tokenise(texts, self.config.max_length)
        masked, targets = self._masked_copies(ids, self.config.seed + 2)
        image, has_image, _ = self._images(examples)
        lower, lower_m = self._lower(ids), self._lower(masked)
        items = RethinkItems()
        for n, route in enumerate(routes):
            words = targets[n][targets[n] != L.IGNORE]
            items.append({
                "lower": lower[n], "lower_m": lower_m[n], "family": self._family_index(route),
                "image": image[n], "has_image": bool(has_image[n]),
                "words": words if len(words) else torch.full((1,), L.IGNORE),
            })
        return items

    @torch.no_grad()
    def rethink_probs(
        self, items: Sequence[Mapping[str, Any]], batch_size: int = 64, dropout: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both heads' probabilities [N, C] on prepared rethinking rows (dropout on if asked)."""
        self.train(dropout)
        p1, p2 = [], []
        try:
            for start in range(0, len(items), batch_size):
                batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                         for k, v in self.collate(items[start : start + batch_size]).items()}
                feats = self._features(batch["lower"], batch["mask"], batch["family"], batch["image"], batch["has_image"])
                p1.append(self.head1(feats.x1).softmax(-1).float().cpu())
                p2.append(self.head2(feats.x2).softmax(-1).float().cpu())
        finally:
            self.eval()
        return torch.cat(p1), torch.cat(p2)

    def rethink(self, examples: Sequence[Example], **kwargs: Any) -> Any:
        """Rethinking fine-tuning on unlabelled rows; see `train.rethink`."""
        from .train import rethink

        return rethink(self, examples, **kwargs)


def rethink_state(model: LfdrtMethod) -> dict[str, torch.Tensor]:
    """Copy of everything rethinking may change (to restore on cancel/failure)."""
    return {n: p.detach().clone() for n, p in model.rethink_named_parameters()}


def head_notes(agree: bool, head1: Mapping[str, float], head2: Mapping[str, float], family: str | None) -> tuple[str, ...]:
    """The double check in sentences: do the heads agree, what each says, which family routed the row."""
    lines = ["Heads agree: " + ("yes" if agree else "no (uncertain)")]
    shown = [f"{name}: {max(p, key=p.get)} ({max(p.values()):.0%})" for name, p in (("head 1", head1), ("head 2", head2)) if p]
    if shown:
        lines.append("Heads: " + " · ".join(shown))
    if family:
        lines.append(f"Language family: {family}")
    return tuple(lines)
