"""Configs of `vxlm` and `ctam` (frozen, JSON-able)."""
from __future__ import annotations

from dataclasses import dataclass

from ...adaptation import EncoderAdaptation

# English sentences with sentence polarity: the pivot side of the mapping and CTAM's teacher data.
ENGLISH_CORPUS = "semeval:{data}/semeval16_restaurants/gold-en-train.txt"
MY_EN_DICTIONARY = "{assets}/dictionaries/my-en.tsv"
# "supervised": Burmese labels train the model (with CTAM's English teachers beside them);
# "zero-resource" (the paper's claim): only English labels train it, Burmese text is read
# for the static vectors and, in CTAM, as unlabelled students
SETTINGS = ("supervised", "zero-resource")
WORD_READINGS = ("separate", "text")  # VxlmConfig.tokenize_words_as


@dataclass(frozen=True)
class VxlmConfig(EncoderAdaptation):
    encoder: str = "builtin"
    train_from_layer: int = 10  # top-k: layers below are frozen; their outputs are cached
    # layer whose word states make the static vectors: at or below the first adapted layer
    # (train_from_layer, or lora_from_layer with adapt="lora"), so they never change in training
    static_layer: int = 8
    setting: str = "supervised"  # one of SETTINGS
    lora_from_layer: int = 8  # adapt="lora": adapters on layers 8-11, at or above static_layer
    max_length: int = 128  # sub-tokens per training sentence
    # how the encoder reads the words: "separate" (each word tokenised on its own, with its
    # own word-start marker: models trained before 2026-12-02) or "text" (the words as
    # running text, found by character offsets: ~26% fewer sub-tokens on Burmese)
    tokenize_words_as: str = "separate"
    dropout: float = 0.1
    gate_bias_init: float = 2.0  # sigmoid(2) = 0.88: training starts near the contextual vector
    # language whose words are mapped by W; the pivot is English. "my": a word is
    # mapped when it has Myanmar script; any other code: when the example's lang is it
    source_lang: str = "my"
    target_corpus: str | None = ENGLISH_CORPUS  # English static vectors (dataset spec)
    dictionary: str | None = MY_EN_DICTIONARY  # seed dictionary TSV; None = unsupervised
    dictionary_holdout: float = 0.0  # fraction of the dictionary kept out to report precision@1
    mapping_init: str = "auto"  # auto | dictionary | identity | similarity
    mapping_iterations: int = 10
    csls_k: int = 10
    static_min_count: int = 2  # occurrences a word needs for a corpus static vector
    static_max_words: int = 4000  # per language, most frequent first
    # imbalance handling of the Burmese cross-entropy (xsent_core.imbalance), as the classifier's
    class_weighting: str = "none"  # "none" | "balanced"
    logit_adjust: float = 0.0  # tau of logit-adjusted cross-entropy; 0 = plain
    # sizes of the stored static table; set when the table is built, read back on load
    vocab_size: int = 0
    vocab_bytes: int = 0
    dim: int = 384  # encoder hidden size, checked against the encoder


@dataclass(frozen=True)
class CtamConfig(VxlmConfig):
    gru_hidden: int = 128  # per direction
    lambda_t: float = 1.0  # sentiment classification (L_T)
    lambda_r: float = 0.4  # attention reconstruction (L_R)
    lambda_s: float = 0.1  # domain adversarial (L_S)
    grl_lambda: float = 1.0  # gradient reversal strength in front of the discriminator
    teacher_ce_weight: float = 1.0  # weight of the English teacher's cross-entropy inside L_T
    pair_top_k: int = 5  # a Burmese row is paired with one of its k nearest same-label English rows
    detach_teacher: bool = True  # L_R moves the student toward the teacher; False: both ways (the paper's reading)
    # encoder layers aligned teacher <-> student, counted from the top: 1 = the top layer's BiGRU
    # states only; M > 1 adds the word states of the M-1 layers below it (each its own bilinear
    # attention), L_R being the mean over the M terms. At most the number of adapted layers.
    align_layers: int = 1
    max_teacher_rows: int = 2000  # English rows kept as teachers (and as the explain() bank)
    # English sentences kept for explain() when no translation is given; set when built
    bank_size: int = 0
    bank_bytes: int = 0
