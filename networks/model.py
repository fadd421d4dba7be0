"""``StyleFusionModel``: the inference networks of one model, its config and its fingerprint.

A model folder (bundled, local or downloaded from the Hub — one layout, one code path)::

    config.json         StyleFusionConfig + format_version
    model.safetensors   E_c, E_s and the EMA generator G (never D, never optimiser state)
    README.md           model card with Hub metadata

A single ``.safetensors`` file also works: ``save_pretrained`` embeds the config in its metadata.
"""

from __future__ import annotations

import hashlib
import json
import os

import torch
from torch import nn

from .config import StyleFusionConfig
from .errors import ModelFormatError
from .feature_extractor import FeatureExtractor
from .generator import Generator
from .style_encoder import build_style_encoder
from ..storage.weights import check_finite, read_header, read_safetensors, refuse_pickle, write_safetensors, write_text

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
CONFIG_METADATA_KEY = "stylefusion_config"


def tensor_fingerprint(config: StyleFusionConfig, tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the canonical config JSON and every tensor (name, dtype, shape, bytes); 16 hex digits."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class StyleFusionModel(nn.Module):
    """The inference half of the hybrid model: E_c (feature_extractor), E_s (style_encoder), G (generator)."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureExtractor(config)
        self.style_encoder = build_style_encoder(config)
        self.generator = Generator(config)
        self._fingerprint: str | None = None
        self.source = "(in memory)"
        self.card = ""
        #: The API runs the networks' fused formulations (the same function within float rounding, fewer
        #: passes; see ``layers.py``). False runs the plain formulas training uses (tests compare the two).
        self.fused = True
        self.eval()

    # -- identity ----------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """Stable hash of config + weights as loaded/saved (unchanged by ``.to(device, dtype)``)."""
        if self._fingerprint is None:
            self._fingerprint = tensor_fingerprint(self.config, self.state_dict())
        return self._fingerprint

    @property
    def display_name(self) -> str:
        return f"{self.config.name} [{self.fingerprint[:8]}]"

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def weights_changed(self) -> None:
        """Call after editing weights in place (training) so the fingerprint is recomputed."""
        self._fingerprint = None

    # -- saving --------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike, card: str | None = None) -> str:
        """Write config.json, model.safetensors and README.md into ``folder`` (each file atomically)."""
        folder = os.fspath(folder)
        os.makedirs(folder, exist_ok=True)
        tensors = {k: v.detach().float().cpu() for k, v in self.state_dict().items()}
        fingerprint = tensor_fingerprint(self.config, tensors)
        write_safetensors(
            os.path.join(folder, WEIGHTS_NAME),
            tensors,
            {CONFIG_METADATA_KEY: self.config.to_json(), "format": "pt", "fingerprint": fingerprint},
        )
        write_text(os.path.join(folder, CONFIG_NAME), self.config.to_json())
        write_text(os.path.join(folder, CARD_NAME), card if card is not None else default_card(self.config, fingerprint))
        return folder

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device=None, dtype=None) -> "StyleFusionModel":
        """Load a model folder (config.json + model.safetensors) or a single .safetensors file."""
        path = os.fspath(path)
        refuse_pickle(path)
        if os.path.isdir(path):
            weights_path = os.path.join(path, WEIGHTS_NAME)
            if not os.path.isfile(weights_path):
                pickles = [f for f in sorted(os.listdir(path)) if f.lower().endswith((".pt", ".pth", ".ckpt", ".bin"))]
                if pickles:
                    refuse_pickle(os.path.join(path, pickles[0]))
                raise ModelFormatError(f"{path}: no {WEIGHTS_NAME} in this folder; a StyleFusion model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
            config = StyleFusionConfig.load(os.path.join(path, CONFIG_NAME))
            shapes, _ = read_header(weights_path)
            card_path = os.path.join(path, CARD_NAME)
        elif os.path.isfile(path):
            weights_path = path
            shapes, metadata = read_header(path)
            if CONFIG_METADATA_KEY not in metadata:
                raise ModelFormatError(f"{path}: this .safetensors file has no StyleFusion config in its metadata; is it a StyleFusion model?")
            try:
                config = StyleFusionConfig.from_dict(json.loads(metadata[CONFIG_METADATA_KEY]), source=path)
            except (json.JSONDecodeError, RecursionError):
                raise ModelFormatError(f"{path}: the embedded config is not valid JSON") from None
            card_path = None
        else:
            raise ModelFormatError(f"{path}: no such model file or folder")

        # The architecture is compared with the file's header before any real module is built: a
        # config with absurd sizes then fails in milliseconds instead of allocating gigabytes.
        check_tensors(weights_path, expected_shapes(config), shapes)
        tensors, _ = read_safetensors(weights_path)
        check_finite(weights_path, tensors)
        model = cls(config)
        model.load_state_dict(tensors, strict=True)
        model._fingerprint = tensor_fingerprint(config, tensors)
        model.source = path
        if card_path and os.path.isfile(card_path):
            with open(card_path, encoding="utf-8", errors="replace") as fh:
                model.card = fh.read()
        if device is not None or dtype is not None:
            model.to(device=device, dtype=dtype)
        return model


def expected_shapes(config: StyleFusionConfig) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{name: (dtype, shape)} of the inference networks' state dict, from a skeleton on the meta
    device (no memory is allocated for its weights)."""
    with torch.device("meta"):
        skeleton = StyleFusionModel(config)
    return {name: (str(t.dtype), tuple(t.shape)) for name, t in skeleton.state_dict().items()}


_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}


def check_tensors(source: str, expected: dict, found: dict) -> None:
    """Refuse weights whose names or shapes do not fit the architecture; name the first mismatch.

    ``expected`` and ``found`` map tensor names to tensors or to ``(dtype, shape)`` pairs (a
    safetensors header, see ``read_header``).
    """
    def shape_of(value):
        return tuple(value.shape) if isinstance(value, torch.Tensor) else tuple(value[1])

    def is_float(value):
        return value.is_floating_point() if isinstance(value, torch.Tensor) else value[0] in _FLOAT_DTYPES

    for name, tensor in expected.items():
        if name not in found:
            raise ModelFormatError(f"{source}: tensor {name!r} is missing (the weights do not match config.json)")
        if shape_of(found[name]) != shape_of(tensor):
            raise ModelFormatError(
                f"{source}: tensor {name!r} has shape {shape_of(found[name])}, the architecture in config.json "
                f"needs {shape_of(tensor)}"
            )
        if not is_float(found[name]):
            dtype = found[name].dtype if isinstance(found[name], torch.Tensor) else found[name][0]
            raise ModelFormatError(f"{source}: tensor {name!r} has dtype {dtype}, expected a float type")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise ModelFormatError(f"{source}: unexpected tensor {extra[0]!r} (the weights do not match config.json)")


def default_card(config: StyleFusionConfig, fingerprint: str) -> str:
    return (
        "---\nlicense: gpl-3.0\nlibrary_name: comfyui-stylefusion\ntags:\n- style-transfer\n- image-fusion\n- comfyui\n---\n"
        f"# {config.name}\n\nA StyleFusion model (fingerprint `{fingerprint}`). No training details were recorded.\n"
    )
