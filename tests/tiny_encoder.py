"""A tiny random BERT folder (2 layers, hidden 32) for runs that test plumbing, not accuracy.

Subprocess tests (kill and resume) and the reliability benchmark train and
predict with it through the real CLI: a model folder path is a valid
`encoder` spec, and a step costs milliseconds instead of the builtin
encoder's seconds. Character WordPiece pieces keep Latin text off [UNK].
"""
from __future__ import annotations

import string
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHARS = string.ascii_lowercase + string.digits + string.punctuation
VOCAB = SPECIAL + list(CHARS) + ["##" + c for c in CHARS] + "the food was great but waiter rude service".split()
MAX_TOKENS = 128


def make_tiny_bert(folder: str | Path, seed: int = 0) -> Path:
    """Write a random tiny BERT and its tokenizer to `folder` (idempotent); returns the folder."""
    folder = Path(folder)
    if (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=MAX_TOKENS,
    )
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, model_max_length=MAX_TOKENS)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
