"""`ctam`: VXLM plus dual-path (English teacher / Burmese student) attention supervision.

Training (seed 002, section 3.2): every labelled Burmese row (student) is paired
with an English labelled row (teacher): one of its `pair_top_k` nearest English
rows of the same label, by the cosine of mean-pooled frozen-layer states, drawn
anew each time the row is batched (the paper's English and Burmese data are not
translations of each other either). Both paths share the encoder and the VXLM
gate; each has its own BiGRU over the fused word vectors. Losses (`losses.py`):
- L_T: cross-entropy of the shared sentiment head on both paths (the English
  teacher's term weighted by `teacher_ce_weight`); the head reads
  [mean fused word vector ; mean BiGRU state];
- L_R: the attention-weighted reconstruction of the teacher's BiGRU states from
  the student's (teacher side detached by default: knowledge flows English ->
  Burmese; `detach_teacher=False` lets it flow both ways); with `align_layers` M > 1
  the word states of the M-1 encoder layers below the top are aligned the same way,
  each with its own bilinear attention, and L_R is the mean of the M terms (the
  paper aligns every layer T_1..T_M with S_1..S_M);
- L_S: a domain discriminator (English = 1) on the pooled fused vectors of both
  paths, behind a gradient-reversal layer, so the encoder learns language-agnostic
  sentence features.

Settings (`config.setting`): "supervised" as above; "zero-resource" (the paper's
claim) drops every Burmese label: students are paired with their nearest English
rows of any label, L_T is the English teachers' cross-entropy alone, and the
Burmese text reaches the model only through L_R, L_S and the static table.

Prediction: the student classifies alone. No English translation exists for a
user's Burmese review, and the label must not depend on a retrieved sentence, so
the teacher path is not used for labels. `explain()` still shows both attention
matrices: against the English translation when one is given
(`example.meta["translation"]` or the `translation` argument), otherwise against
the nearest English training sentence kept in the model (`bank`), and says which.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...config import replace_config
from ...nn import masked_mean, reverse_gradient
from ...types import Example, XsentError
from ..panels import Matrix, panel_dict
from . import losses
from .config import CtamConfig
from .vxlm_model import VxlmMethod, _decode_strings, _encode_strings


class CtamMethod(VxlmMethod):
    name = "ctam"
    extra_inputs = frozenset({"translation"})
    shows = "gate heatmap + histogram, and the two attention maps"
    config_cls = CtamConfig
    averageable = False  # two BiGRUs: their hidden units differ in order from seed to seed

    def __init__(self, config: CtamConfig, encoder: Any) -> None:
        super().__init__(config, encoder)
        dim = encoder.info.hidden_size
        g = config.gru_hidden
        self.student_gru = torch.nn.GRU(dim, g, batch_first=True, bidirectional=True)
        self.teacher_gru = torch.nn.GRU(dim, g, batch_first=True, bidirectional=True)
        self.attn_weight = torch.nn.Parameter(torch.empty(2 * g, 2 * g))
        torch.nn.init.xavier_uniform_(self.attn_weight, gain=0.1)
        self.attn_bias = torch.nn.Parameter(torch.zeros(()))
        adapted = encoder.info.num_layers - self.live_layer
        if not 1 <= config.align_layers <= adapted:
            raise XsentError(
                f"ctam: align_layers={config.align_layers} must be between 1 and the {adapted} adapted encoder layers"
            )
        # one bilinear attention per extra aligned layer, over that layer's word states
        self.layer_attn_weight = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(dim, dim), gain=0.1))
             for _ in range(config.align_layers - 1)]
        )
        self.layer_attn_bias = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.zeros(())) for _ in range(config.align_layers - 1)]
        )
        self.discriminator = torch.nn.Sequential(
            torch.nn.Linear(dim, dim // 2), torch.nn.ReLU(), torch.nn.Linear(dim // 2, 1)
        )
        self._alloc_bank(config.bank_size, config.bank_bytes)

    def feature_dim(self) -> int:
        return self.encoder.info.hidden_size + 2 * self.config.gru_hidden

    def _alloc_bank(self, rows: int, nbytes: int) -> None:
        self.register_buffer("bank_vectors", torch.zeros(rows, self.encoder.info.hidden_size))
        self.register_buffer("bank_text", torch.zeros(nbytes, dtype=torch.uint8))

    # -- the English bank for explain() ---------------------------------------------
    @property
    def bank_sentences(self) -> list[str]:
        return _decode_strings(self.bank_text)

    def set_bank(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        texts = [" ".join(t.split()) for t in texts]  # newlines separate the stored texts
        data = _encode_strings(texts)
        device = self.map_w.device
        self.config = replace_config(self.config, bank_size=len(texts), bank_bytes=int(data.numel()))
        self._alloc_bank(len(texts), int(data.numel()))
        self.bank_vectors = torch.as_tensor(np.asarray(vectors, np.float32)).reshape(len(texts), -1).to(device)
        self.bank_text = data.to(device)

    @staticmethod
    def sentence_vector(lower: torch.Tensor) -> torch.Tensor:
        """Retrieval vector of a row: unit mean of its frozen-layer states (specials included)."""
        return F.normalize(lower.float().mean(0), dim=-1)

    def nearest_teacher(self, lower: torch.Tensor) -> tuple[str | None, float]:
        texts = self.bank_sentences
        if not texts:
            return None, 0.0
        sims = F.normalize(self.bank_vectors.float(), dim=-1) @ self.sentence_vector(lower).to(self.bank_vectors.device)
        best = int(sims.argmax())
        return texts[best], round(float(sims[best]), 4)

    # -- training -------------------------------------------------------------------
    def prepare(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Students (non-English rows) paired with English teachers.

        Zero-resource: every non-English row is a student, labelled or not; `prepare_items`
        drops the labels and pairs it with its nearest English rows whatever their label.
        """
        rows = list(examples) if self.zero_resource else [ex for ex in examples if ex.label is not None]
        if not rows:
            return []
        english = [ex for ex in rows if ex.lang == "en" and ex.label is not None]
        students = [ex for ex in rows if ex.lang != "en"]
        if not students:
            raise XsentError("ctam: no non-English training rows for the student path")
        teacher_examples = english + [ex for ex in self.load_target_corpus() if ex.label is not None]
        teacher_examples = teacher_examples[: self.config.max_teacher_rows]
        if not teacher_examples:
            raise XsentError(
                "ctam: the teacher path needs labelled English sentences: add English rows (lang 'en') "
                "to the training data or set target_corpus"
            )
        student_items = self.encode_examples(students)
        kept = [ex for ex in teacher_examples if self._row_words(ex)[0]]  # encode_examples skips empty rows
        teacher_items = self.encode_examples(kept)
        return self.prepare_items(student_items, teacher_items, [ex.text for ex in kept])

    def prepare_items(
        self,
        student_items: Sequence[dict[str, Any]],
        teacher_items: Sequence[dict[str, Any]],
        teacher_texts: Sequence[str],
        static_items: Sequence[dict[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        """Encoded rows (`encode_examples`) -> training items: static table (if the model
        has none; built from all rows plus `static_items`), teacher pairs and the bank."""
        if len(teacher_items) != len(teacher_texts):
            raise ValueError("one text per teacher item is needed")
        if any(int(t["label"]) < 0 for t in teacher_items):
            raise XsentError("ctam: every teacher row needs a sentiment label")
        if self.config.vocab_size == 0:
            self.build_static_from_items(list(student_items) + list(teacher_items) + list(static_items))
        students = [dict(it) for it in student_items]  # pairing adds a key; callers may reuse theirs
        if self.zero_resource:
            for it in students:  # no Burmese label reaches training, whatever the caller encoded
                it["label"] = torch.tensor(-1)
        # the prior the imbalance options correct: the labels the sentence loss sees
        self.count_labels(teacher_items if self.zero_resource else students)
        self.pair(students, teacher_items)
        self.set_bank(teacher_texts, np.stack([self.sentence_vector(t["lower"]).numpy() for t in teacher_items]))
        return students

    def pair(self, students: Sequence[dict[str, Any]], teachers: Sequence[dict[str, Any]]) -> None:
        """Give each student item `teachers`: its k nearest same-label teacher items."""
        t_vecs = torch.stack([self.sentence_vector(t["lower"]) for t in teachers])
        t_labels = torch.stack([t["label"] for t in teachers])
        k = max(1, self.config.pair_top_k)
        for it in students:
            sims = t_vecs @ self.sentence_vector(it["lower"])
            same = t_labels == it["label"]
            if bool(same.any()):
                sims = sims.masked_fill(~same, -2.0)
            top = sims.topk(min(k, int(same.sum()) if bool(same.any()) else len(teachers))).indices.tolist()
            it["teachers"] = [teachers[j] for j in top]

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        student = super().collate(items)
        if not all("teachers" in it for it in items):
            return student  # prediction batches: the student alone
        picks = [it["teachers"][int(torch.randint(len(it["teachers"]), ()))] for it in items]
        return {"student": student, "teacher": super().collate(picks)}

    def gru_states(self, gru: torch.nn.GRU, fused: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """BiGRU over the real words of each row (packed, so padding never enters)."""
        lengths = word_mask.sum(1).clamp_min(1).cpu()
        packed = torch.nn.utils.rnn.pack_padded_sequence(fused, lengths, batch_first=True, enforce_sorted=False)
        out, _ = gru(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=fused.shape[1])
        return out * word_mask.unsqueeze(-1).to(out.dtype)

    def layer_states(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Top-layer token states, and the word states of the `align_layers - 1` layers below the top."""
        enc = self.encoder
        top = enc.info.num_layers
        first_aligned = top - self.config.align_layers + 1
        hidden, mask = batch["lower"].float(), batch["attention_mask"]
        words = []
        for k in range(self.live_layer, top):
            hidden = enc.run_layers(hidden, mask, k, k + 1)
            if first_aligned <= k + 1 < top:
                words.append(torch.bmm(batch["pool"].to(hidden.dtype), hidden))
        return hidden, words

    def path(self, batch: Mapping[str, torch.Tensor], gru: torch.nn.GRU) -> dict[str, Any]:
        hidden, layer_words = self.layer_states(batch)
        feats: dict[str, Any] = self.features(hidden, batch["pool"], batch["word_mask"], batch["h_vec"])
        feats["layer_words"] = layer_words
        states = self.gru_states(gru, feats["fused"], feats["word_mask"])
        feats["gru"] = states
        feats["sentence"] = torch.cat([feats["pooled"], masked_mean(states, feats["word_mask"])], dim=-1)
        return feats

    def logits(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "sentence" not in feats:  # student-only prediction batches
            states = self.gru_states(self.student_gru, feats["fused"], feats["word_mask"])
            sentence = torch.cat([feats["pooled"], masked_mean(states, feats["word_mask"])], dim=-1)
        else:
            sentence = feats["sentence"]
        return self.head(self.dropout(sentence))

    def loss_terms(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """L_T, L_R, L_S (unweighted, with their graphs) and the student's gates, for one training batch."""
        if "student" not in batch:
            raise XsentError("ctam: training batches need teacher pairs; build them with prepare()")
        cfg = self.config
        s = self.path(batch["student"], self.student_gru)
        t = self.path(batch["teacher"], self.teacher_gru)
        # imbalance handling applies to the labels that define the task: Burmese when supervised,
        # English when zero-resource (the student term is then 0: no student is labelled)
        l_t = self.sentence_loss(self.logits(s), batch["student"]["label"])
        teacher_loss = self.sentence_loss if self.zero_resource else losses.classification_loss
        l_t = l_t + cfg.teacher_ce_weight * teacher_loss(self.logits(t), batch["teacher"]["label"])
        s_mask, t_mask = s["word_mask"], t["word_mask"]
        aligned = [(s["gru"], t["gru"], self.attn_weight, self.attn_bias)]
        aligned += list(zip(s["layer_words"], t["layer_words"], self.layer_attn_weight, self.layer_attn_bias))
        per_layer = []
        for student_states, teacher_states, weight, bias in aligned:
            teacher_states = teacher_states.detach() if cfg.detach_teacher else teacher_states
            att = losses.dual_attention(student_states, s_mask, teacher_states, t_mask, weight, bias)
            per_layer.append(losses.reconstruction_loss(att.context, teacher_states, att.pooled_student_to_teacher, t_mask))
        l_r = torch.stack(per_layer).mean()  # the paper sums over layers; the mean keeps lambda_r's scale
        pooled = torch.cat([s["pooled"], t["pooled"]])
        domains = torch.cat([torch.zeros(len(s["pooled"])), torch.ones(len(t["pooled"]))]).to(pooled.device)
        l_s = losses.domain_loss(self.discriminator(reverse_gradient(pooled, cfg.grl_lambda)).squeeze(-1), domains)
        return {"classification": l_t, "reconstruction": l_r, "reconstruction_top": per_layer[0], "domain": l_s,
                "gate": s["gate"]}

    def loss_weights(self) -> dict[str, float]:
        """The weights `forward_loss` gives each term of `loss_terms`."""
        cfg = self.config
        return {"classification": cfg.lambda_t, "reconstruction": cfg.lambda_r, "domain": cfg.lambda_s}

    def forward_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        terms, w = self.loss_terms(batch), self.loss_weights()
        loss = losses.total_loss(terms["classification"], terms["reconstruction"], terms["domain"],
                                 (w["classification"], w["reconstruction"], w["domain"]))
        return {
            "loss": loss,
            **{k: terms[k].detach() for k in ("classification", "reconstruction", "reconstruction_top", "domain")},
            "gate_mean": terms["gate"].detach().mean(),
        }

    # -- inference --------------------------------------------------------------------
    def explain(self, example: Example, translation: str | None = None) -> dict[str, Any]:
        """VXLM's explanation of the student plus the dual-path attention.

        Teacher = `translation`, else example.meta["translation"], else the nearest
        English training sentence (`teacher["source"]` says which). The label is
        the student's alone either way.
        """
        r = self._run([example])[0]
        out = self._explain_from(r)
        given = translation if translation is not None else (example.meta or {}).get("translation")
        if isinstance(given, str) and given.strip():
            teacher_text, source, similarity = given, "translation", None
        else:
            teacher_text, similarity = self.nearest_teacher(r["item"]["lower"])
            source = "nearest_training_sentence"
        if teacher_text is None or not r["words"]:
            out["teacher"] = None
            out["attention"] = None
            if not r["words"]:
                out["warnings"].append("no words: nothing to attend to")
            else:
                out["warnings"].append("no English teacher: the model keeps no English sentences and none was given")
            return out
        t = self._run([Example(id="teacher", text=teacher_text, lang="en")])[0]
        with torch.inference_mode():
            s_states = self.gru_states(self.student_gru, r["feats"]["fused"], r["feats"]["word_mask"])
            t_states = self.gru_states(self.teacher_gru, t["feats"]["fused"], t["feats"]["word_mask"])
            n, m = len(r["words"]), len(t["words"])
            att = losses.dual_attention(
                s_states[:, :n], r["feats"]["word_mask"][:, :n], t_states[:, :m], t["feats"]["word_mask"][:, :m],
                self.attn_weight, self.attn_bias,
            )
        out["teacher"] = {"text": teacher_text, "source": source, "similarity": similarity}
        out["attention"] = {
            "student_tokens": list(r["words"]),
            "teacher_tokens": list(t["words"]),
            "teacher_to_student": _rounded(att.teacher_to_student[0]),  # rows: teacher, columns: student
            "student_to_teacher": _rounded(att.student_to_teacher[0]),  # rows: student, columns: teacher
            "pooled_student_to_teacher": _rounded(att.pooled_student_to_teacher[0]),  # over teacher tokens
        }
        a = out["attention"]
        out["panels"] += [
            panel_dict(Matrix("Attention teacher → student", tuple(map(tuple, a["teacher_to_student"])),
                              tuple(a["teacher_tokens"]), tuple(a["student_tokens"]), "teacher (English)", "student")),
            panel_dict(Matrix("Attention student → teacher", tuple(map(tuple, a["student_to_teacher"])),
                              tuple(a["student_tokens"]), tuple(a["teacher_tokens"]), "student", "teacher (English)")),
        ]
        return out


def _rounded(t: torch.Tensor) -> Any:
    return np.round(t.float().cpu().numpy(), 4).tolist()
