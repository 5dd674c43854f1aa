"""LFD-RT pure losses and decision rules against values worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from xsent_core.methods.lfdrt import annotation_order, disagreement_rate
from xsent_core.methods.lfdrt import losses as L
from xsent_core.methods.lfdrt.layers import CrossAttention, FamilyDisentanglers

LN3 = math.log(3.0)


def close(value: torch.Tensor | float, expected: float, tol: float = 1e-5) -> bool:
    if isinstance(value, torch.Tensor):
        value = value.detach()
    return abs(float(value) - expected) < tol


# -- unified contrastive loss (Eq. 2) -------------------------------------------
def test_contrastive_identity_pairs_tau_one():
    # sim = I; each row/column: -log(e / (e + 1)) = log(1 + e^-1) = 0.3132617
    # both directions summed: 0.6265234
    a = torch.eye(2)
    assert close(L.unified_contrastive_loss(a, a.clone(), temperature=1.0), 2 * math.log(1 + math.exp(-1)))
    assert close(L.unified_contrastive_loss(a, a.clone(), temperature=1.0), 0.6265234)


def test_contrastive_asymmetric_case():
    # a = [[1,0],[0,1]], b = [[1,0],[1,0]] -> sim = [[1,1],[0,0]]
    # rows: row0 logits [1,1] target 0 -> ln 2; row1 [0,0] target 1 -> ln 2; mean 0.693147
    # cols: col0 [1,0] target 0 -> log(1+e^-1) = 0.313262; col1 [1,0] target 1 -> log(1+e) = 1.313262
    #       mean 0.813262; total 1.506409
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert close(L.unified_contrastive_loss(a, b, temperature=1.0), 1.506409)
    # cosine similarity: scaling an input changes nothing
    assert close(L.unified_contrastive_loss(3 * a, 0.5 * b, temperature=1.0), 1.506409)


def test_contrastive_temperature():
    # tau = 0.5 on identity pairs: logits [2, 0] -> log(1 + e^-2) = 0.126928 per direction -> 0.253856
    a = torch.eye(2)
    assert close(L.unified_contrastive_loss(a, a, temperature=0.5), 0.253856)
    # the paper's 0.07: logits [14.2857, 0] -> about 2 * 6.2e-7
    assert float(L.unified_contrastive_loss(a, a, temperature=0.07)) < 1e-5


def test_contrastive_rejects_shape_mismatch():
    with pytest.raises(ValueError):
        L.unified_contrastive_loss(torch.zeros(2, 3), torch.zeros(3, 3))


# -- KL to uniform (Eq. 9) ----------------------------------------------------------
def test_kl_to_uniform_by_hand():
    # p = softmax([0, ln 3]) = [1/4, 3/4]; KL(p||u) = 1/4 ln(1/2) + 3/4 ln(3/2)
    #   = -0.173287 + 0.304099 = 0.130812
    assert close(L.kl_to_uniform(torch.tensor([[0.0, LN3]])), 0.130812)
    # a uniform row contributes 0; mean of the two rows = 0.065406
    assert close(L.kl_to_uniform(torch.tensor([[0.0, LN3], [1.0, 1.0]])), 0.065406)
    assert close(L.kl_to_uniform(torch.zeros(0, 4)), 0.0)


# -- masked LM (Eq. 8 / 15) ----------------------------------------------------------
def test_masked_lm_loss_skips_ignored_rows():
    # row 0: p = [1/4, 3/4], target 1 -> -ln 0.75 = 0.287682; row 1 ignored
    logits = torch.tensor([[0.0, LN3], [5.0, 0.0]])
    assert close(L.masked_lm_loss(logits, torch.tensor([1, L.IGNORE])), 0.287682)
    # nothing masked -> 0, still differentiable
    out = L.masked_lm_loss(logits.requires_grad_(), torch.tensor([L.IGNORE, L.IGNORE]))
    assert close(out, 0.0)
    out.backward()


def test_bag_of_words_mlm_loss():
    # p = softmax([0, ln 3, 0]) = [0.2, 0.6, 0.2]; words {1, 0}: (-ln 0.6 - ln 0.2) / 2
    #   = (0.510826 + 1.609438) / 2 = 1.060132; a row without words -> 0
    logits = torch.tensor([[0.0, LN3, 0.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([[1, 0], [L.IGNORE, L.IGNORE]])
    out = L.bag_of_words_mlm_loss(logits, targets)
    assert close(out[0], 1.060132) and close(out[1], 0.0)


# -- weighted sums (Eq. 10, 16, 17) ----------------------------------------------------
def test_weighted_sums():
    # 0.3 * 2 + 0.1 * 1 = 0.7
    assert close(L.lfd_loss(torch.tensor(2.0), torch.tensor(1.0)), 0.7)
    # 1 * 0.5 + 1 * 0.25 + 0.3 * 2 = 1.35
    assert close(L.sentiment_loss(torch.tensor(0.5), torch.tensor(0.25), torch.tensor(2.0)), 1.35)
    assert close(L.pretraining_loss({"align": torch.tensor(1.0), "lfd": torch.tensor(0.7), "sa": torch.tensor(1.35)}), 3.05)


# -- rethinking (Eq. 18) ----------------------------------------------------------------
def _rethink_inputs():
    # head 1: row0 [3/4, 1/4] -> 0; row1 [1/4, 3/4] -> 1
    # head 2: row0 [4/5, 1/5] -> 0 (agree); row1 [2/3, 1/3] -> 0 (disagree)
    logits1 = torch.tensor([[LN3, 0.0], [0.0, LN3]], requires_grad=True)
    logits2 = torch.tensor([[math.log(4.0), 0.0], [math.log(2.0), 0.0]], requires_grad=True)
    mlm = torch.tensor([5.0, 2.0], requires_grad=True)
    return logits1, logits2, mlm


def _pseudo(logits1, logits2, **kw):
    return L.select_pseudo_labels(logits1.detach().softmax(-1), logits2.detach().softmax(-1), **kw)


def test_rethinking_loss_by_hand():
    # row 0 agrees on label 0: 0.5 * -ln 0.75 + 0.5 * -ln 0.8 = 0.5 * 0.287682 + 0.5 * 0.223144 = 0.255413
    # row 1 disagrees: its masked-LM loss 2.0 (row 0's 5.0 is not used)
    # total = (0.255413 + 2.0) / 2 = 1.127706; parts 0.127706 and 1.0
    logits1, logits2, mlm = _rethink_inputs()
    pseudo = _pseudo(logits1, logits2)
    assert pseudo.tolist() == [0, -1]
    out = L.rethinking_loss(logits1, logits2, mlm, pseudo)
    assert close(out["loss"], 1.127706)
    assert close(out["pseudo"], 0.127706) and close(out["mlm"], 1.0)
    assert out["labelled"].tolist() == [True, False]
    out["loss"].backward()
    assert mlm.grad.tolist() == [0.0, 0.5]  # only the unlabelled row's MLM counts
    assert logits1.grad[1].abs().sum() == 0  # no pseudo-label on the disagreeing row


def test_rethinking_lambdas_and_given_labels():
    # lambda = (1, 0): row 0 -> -ln 0.75 = 0.287682; total (0.287682 + 2) / 2 = 1.143841
    logits1, logits2, mlm = _rethink_inputs()
    out = L.rethinking_loss(logits1, logits2, mlm, torch.tensor([0, -1]), lambda1=1.0, lambda2=0.0)
    assert close(out["loss"], 1.143841)
    # both rows labelled 0 (e.g. chosen before the run): row 1 = 0.5 * -ln(1/4) + 0.5 * -ln(2/3)
    # = 0.5 * 1.386294 + 0.5 * 0.405465 = 0.895880; total = (0.255413 + 0.895880) / 2 = 0.575646
    out = L.rethinking_loss(logits1, logits2, mlm, torch.tensor([0, 0]))
    assert out["labelled"].tolist() == [True, True]
    assert close(out["loss"], 0.575646)


def test_rethinking_confidence_threshold_and_class_weights():
    logits1, logits2, mlm = _rethink_inputs()
    # row 0 agrees with mean confidence (0.75 + 0.8) / 2 = 0.775 < 0.8 -> no label, masked-LM branch
    # total = (5.0 + 2.0) / 2 = 3.5
    pseudo = _pseudo(logits1, logits2, min_confidence=0.8)
    assert pseudo.tolist() == [-1, -1]
    assert close(L.rethinking_loss(logits1, logits2, mlm, pseudo)["loss"], 3.5)
    # 0.77 keeps it: same as without a threshold
    assert _pseudo(logits1, logits2, min_confidence=0.77).tolist() == [0, -1]
    # class weight 2 on label 0: row 0 = 2 * 0.255413 = 0.510826; total (0.510826 + 2) / 2 = 1.255413
    out = L.rethinking_loss(logits1, logits2, mlm, torch.tensor([0, -1]), class_weights=torch.tensor([2.0, 1.0]))
    assert close(out["loss"], 1.255413)


def test_pseudo_labels_keep_each_class_share():
    # 5 agreeing rows: class 0 with confidences 0.9, 0.8, 0.7, 0.6; class 1 with 0.55; one disagreeing row
    p = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.45, 0.55], [0.9, 0.1]])
    q = p.clone()
    q[5] = torch.tensor([0.2, 0.8])  # heads disagree on the last row
    # keep 0.5: class 0 keeps ceil(0.5 * 4) = 2 rows (0.9, 0.8), class 1 ceil(0.5 * 1) = 1 row
    assert L.select_pseudo_labels(p, q, keep=0.5).tolist() == [0, 0, -1, -1, 1, -1]
    # keep 1: every agreeing row (the paper)
    assert L.select_pseudo_labels(p, q).tolist() == [0, 0, 0, 0, 1, -1]
    # a threshold first, then the share: 0.65 leaves class 0 with 3 rows -> ceil(1.5) = 2; class 1 none
    assert L.select_pseudo_labels(p, q, keep=0.5, min_confidence=0.65).tolist() == [0, 0, -1, -1, -1, -1]
    with pytest.raises(ValueError):
        L.select_pseudo_labels(p, q, keep=0.0)


def test_head_overlap_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    # orthogonal units: 0; the same unit twice: 1
    assert close(L.head_overlap(a[:1], a[1:]), 0.0)
    assert close(L.head_overlap(a[:1], 3 * a[:1]), 1.0)
    # [1,0] and [0,1] against [1,1]/sqrt2: cos^2 = 1/2 each -> mean 0.5
    assert close(L.head_overlap(a, torch.tensor([[1.0, 1.0]])), 0.5)
    w = torch.tensor([[1.0, 1.0]], requires_grad=True)
    L.head_overlap(a[:1], w).backward()
    assert w.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        L.head_overlap(a, torch.ones(1, 3))


def test_consistency_loss_by_hand():
    # anchor p = [3/4, 1/4], translation q = [1/2, 1/2]:
    # KL(p || q) = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.304099 - 0.173287 = 0.130812
    anchor = torch.tensor([[LN3, 0.0]], requires_grad=True)
    trans = torch.tensor([[0.0, 0.0]], requires_grad=True)
    loss = L.consistency_loss(anchor, trans)
    assert close(loss, 0.130812)
    loss.backward()
    assert anchor.grad is None  # the English side is the target, not trained towards the translation
    assert close(L.consistency_loss(anchor, anchor.detach().clone()), 0.0)


def test_weighted_mean_by_hand():
    v = torch.tensor([1.0, 2.0, 4.0])
    # weights (bootstrap counts) 2, 0, 1: (2 + 0 + 4) / 3 = 2
    assert close(L.weighted_mean(v, torch.tensor([2, 0, 1])), 2.0)
    assert close(L.weighted_mean(v, None), 7.0 / 3)
    assert close(L.weighted_mean(v, torch.zeros(3)), 0.0)


def test_decide_rule():
    p1 = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    p2 = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3]])
    label, agree, probs = L.decide(p1, p2)
    assert agree.tolist() == [True, False, False]
    assert label.tolist() == [0, 1, 2]  # agreed; head 2 surer (0.8); head 1 surer (0.6)
    assert torch.allclose(probs[0], torch.tensor([0.65, 0.25, 0.1]))
    assert torch.equal(probs[1], p2[1]) and torch.equal(probs[2], p1[2])


# -- masking ---------------------------------------------------------------------------
def test_bert_mask_respects_maskable_and_rate():
    ids = torch.arange(100, 120)
    maskable = torch.zeros(20, dtype=torch.bool)
    maskable[3:19] = True  # 16 positions -> round(0.15 * 16) = 2 masked
    gen = torch.Generator().manual_seed(0)
    out, targets = L.bert_mask(ids, maskable, mask_id=7, vocab_size=50, prob=0.15, generator=gen)
    chosen = (targets != L.IGNORE).nonzero().flatten()
    assert len(chosen) == 2 and bool(maskable[chosen].all())
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(out[~maskable], ids[~maskable])
    # at least one position even when 15 % rounds to 0
    few = torch.zeros(20, dtype=torch.bool)
    few[5:7] = True
    _, t = L.bert_mask(ids, few, mask_id=7, vocab_size=50, generator=gen)
    assert int((t != L.IGNORE).sum()) == 1
    # nothing maskable -> nothing changes
    o, t = L.bert_mask(ids, torch.zeros(20, dtype=torch.bool), mask_id=7, vocab_size=50)
    assert torch.equal(o, ids) and bool((t == L.IGNORE).all())


def test_bert_mask_80_10_10():
    ids = torch.full((2000,), 1000)
    gen = torch.Generator().manual_seed(1)
    out, targets = L.bert_mask(ids, torch.ones(2000, dtype=torch.bool), mask_id=7, vocab_size=50, prob=1.0, generator=gen)
    assert bool((targets == 1000).all())
    share_mask = float((out == 7).float().mean())
    share_kept = float((out == 1000).float().mean())
    assert 0.76 < share_mask < 0.84 and 0.07 < share_kept < 0.13


# -- layers with hand-set weights --------------------------------------------------------
def test_disentanglers_identity_init_and_full_rank():
    x = torch.randn(3, 4, 5)
    for rank in (0, 2):
        f = FamilyDisentanglers(13, 5, rank)
        assert torch.equal(f(x, torch.tensor([0, 7, -1])), x)  # W_k = I at start
    f = FamilyDisentanglers(2, 2, 0)
    with torch.no_grad():
        f.delta[1] = torch.tensor([[1.0, 2.0], [0.0, -1.0]])  # W_1 = [[2, 2], [0, 0]]
    x = torch.tensor([[[1.0, 1.0]], [[1.0, 1.0]]])
    out = f(x, torch.tensor([1, -1]))
    assert out[0, 0].tolist() == [4.0, 0.0]  # W_1 [1, 1] = [2 + 2, 0]
    assert out[1, 0].tolist() == [1.0, 1.0]  # shared path: identity


def test_cross_attention_by_hand():
    att = CrossAttention(2, heads=1)
    with torch.no_grad():
        for lin in (att.q, att.k, att.v):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
    q = torch.tensor([[[1.0, 0.0]]])
    kv = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    # scores [1, 0] / sqrt(2) -> softmax [0.669762, 0.330238]; out = weights @ V
    out, w = att(q, kv, torch.tensor([[1, 1]]))
    assert close(w[0, 0, 0, 0], 0.669762) and close(out[0, 0, 1], 0.330238)
    out, w = att(q, kv, torch.tensor([[1, 0]]))  # masked key gets no weight
    assert close(w[0, 0, 0, 0], 1.0) and close(out[0, 0, 1], 0.0)


# -- annotation queue -------------------------------------------------------------------
def test_disagreement_rate_and_order():
    assert disagreement_rate([True, False, False, True]) == 0.5
    assert disagreement_rate([]) == 0.0
    # disagreeing rows (1: 0.8, 3: 0.7) first by confidence, then agreeing (2: 0.6, 0: 0.9)
    assert annotation_order([True, False, True, False], [0.9, 0.8, 0.6, 0.7]) == [3, 1, 2, 0]
    with pytest.raises(ValueError):
        annotation_order([True], [0.1, 0.2])
