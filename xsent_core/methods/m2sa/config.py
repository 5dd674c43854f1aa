"""M2SA configuration: which encoders, which modalities, how the text side trains."""
from __future__ import annotations

from dataclasses import dataclass

from ...types import CheckpointError

MODALITIES = ("both", "text", "image")
TEXT_POOLINGS = ("mean", "cls", "pooler")
BAD_IMAGE_POLICIES = ("skip", "text", "error")


@dataclass(frozen=True)
class M2saConfig:
    """One M2SA model.

    `modality`: "both" (the paper's model: [text; image] -> linear head; a row
    without an image uses a learned "no image" vector for the image half),
    "text" (text-only ablation, no image encoder is loaded) or "image"
    (image-only ablation, no text encoder is loaded).
    `prefix` / `text_pooling` None means "the encoder's convention": the builtin
    e5 model reads "query: " and is mean-pooled, other HF models read the text as
    is and give their first token (<s>/[CLS]); "pooler" is the HF model's own
    pooler layer over that token (the paper's `pooler_output`; trained with the
    top layers).
    `bad_images` decides what training does with a row whose image cannot be
    read: "skip" the row, train it as "text" only, or raise an "error"; every
    bad image is listed in the training report either way.
    `early_stopping_patience`: stop after this many evaluations without a better
    selection metric (0 = never; the paper uses 3).
    """

    encoder: str = "builtin"
    image_encoder: str = "builtin"
    modality: str = "both"
    train_from_layer: int = 10  # text encoder layers below this stay frozen (cached)
    text_pooling: str | None = None
    prefix: str | None = None
    max_length: int = 128  # sub-tokens per training sentence
    dropout: float = 0.1
    image_norm: bool = True  # LayerNorm on the pooled image feature (its scale differs from text)
    bad_images: str = "skip"
    image_batch_size: int = 16
    early_stopping_patience: int = 0

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise CheckpointError(f"m2sa: modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.text_pooling is not None and self.text_pooling not in TEXT_POOLINGS:
            raise CheckpointError(f"m2sa: text_pooling must be one of {TEXT_POOLINGS} or null, got {self.text_pooling!r}")
        if self.bad_images not in BAD_IMAGE_POLICIES:
            raise CheckpointError(f"m2sa: bad_images must be one of {BAD_IMAGE_POLICIES}, got {self.bad_images!r}")
        if self.train_from_layer < 0 or self.max_length < 2 or self.image_batch_size < 1:
            raise CheckpointError("m2sa: train_from_layer must be >= 0, max_length >= 2, image_batch_size >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise CheckpointError(f"m2sa: dropout must be in [0, 1), got {self.dropout}")
        if self.early_stopping_patience < 0:
            raise CheckpointError("m2sa: early_stopping_patience must be >= 0")

    @property
    def uses_text(self) -> bool:
        return self.modality in ("both", "text")

    @property
    def uses_image(self) -> bool:
        return self.modality in ("both", "image")

    def resolved_prefix(self) -> str:
        if self.prefix is not None:
            return self.prefix
        return "query: " if self.encoder == "builtin" else ""

    def resolved_pooling(self) -> str:
        if self.text_pooling is not None:
            return self.text_pooling
        return "mean" if self.encoder == "builtin" else "cls"
