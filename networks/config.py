"""The architecture config: the single source of truth for building, saving and loading a model.

``config.json`` in a model folder is this dataclass as JSON plus ``format_version``. Loading refuses
a newer format, unknown fields and wrongly typed values, naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any

from .errors import ModelFormatError

#: Version of the ``config.json`` + ``model.safetensors`` layout this code reads and writes. A model is
#: written with the lowest version that describes it: 1 for a learnt E_s, 2 for an E_s on frozen VGG16
#: statistics (``style_features``), so older packages refuse what they cannot build, by name.
FORMAT_VERSION = 2
#: What E_s reads: its own learnt convolutions, or statistics of a frozen VGG16 (``style_encoder.py``).
STYLE_FEATURES = ("learned", "vgg16")

#: Upper bounds of config values: far above any real model, low enough that a config with absurd
#: sizes is refused before anything is built. Counts (blocks, layers, convs, scales) are capped
#: lower than widths and sizes; a tuple field holds at most MAX_STAGES entries.
MAX_COUNT = 64
MAX_SIZE = 8192
MAX_STAGES = 16
_COUNT_WORDS = ("blocks", "layers", "convs", "scales")


def _check_caps(name: str, items: tuple) -> None:
    cap = MAX_COUNT if any(word in name for word in _COUNT_WORDS) else MAX_SIZE
    if len(items) > MAX_STAGES or max(items) > cap:
        raise ValueError(f"config field {name!r} is {items if len(items) > 1 else items[0]!r}, beyond what StyleFusion "
                         f"builds (at most {cap} per value, {MAX_STAGES} values); the config is damaged or not for this model")


@dataclass(frozen=True)
class StyleFusionConfig:
    """Hyper-parameters of every network of the hybrid model.

    Strides are relative to the input image: the feature extractor E_c downsamples by 8 (two
    stride-2 steps after a 2x pixel-unshuffle); the generator G renders back to full resolution
    with 1x1 conv + bilinear steps to strides 4 and 2 and a final 2x sub-pixel conv.
    """

    name: str = "stylefusion"
    # Feature extractor E_c (content code): widths of the stride-4 and stride-8 stages.
    content_width_s4: int = 32
    content_width: int = 96
    # Style encoder E_s (style vector s of size style_dim): "learned" = four stride-2 convs of
    # style_widths; "vgg16" = channel statistics of a frozen ImageNet VGG16 (relu1_1..relu4_1) and the
    # palette through an MLP of style_hidden (generalises to paintings never seen in training).
    style_features: str = "learned"
    style_widths: tuple[int, ...] = (32, 64, 128, 128)
    style_hidden: int = 256
    style_dim: int = 64
    #: The style image is resized to about this many pixels on a side (area preserved) before E_s.
    style_image_size: int = 256
    # Generator G: AdaIN residual blocks at stride 8, modulated convs at strides 4 and 2.
    generator_res_blocks: int = 1
    generator_width_s4: int = 32
    generator_modulated_convs: int = 2
    generator_width_s2: int = 16
    mapping_width: int = 256
    mapping_layers: int = 2
    # Discriminator D (training only): PatchGAN widths and number of scales.
    disc_widths: tuple[int, ...] = (32, 64, 128, 256)
    disc_scales: int = 2

    def __post_init__(self) -> None:
        # Fields of the other kind of E_s take their defaults, so two configs are equal when they
        # build the same networks (and ``to_dict`` leaves those fields out).
        for name in self._unused_fields():
            object.__setattr__(self, name, _DEFAULTS[name])
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "name":
                if not isinstance(value, str) or not value:
                    raise ValueError("config field 'name' must be a non-empty string")
                continue
            if f.name == "style_features":
                if value not in STYLE_FEATURES:
                    raise ValueError(f"config field 'style_features' must be one of {', '.join(STYLE_FEATURES)}, got {value!r}")
                continue
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
                value = tuple(value)
            items = value if isinstance(value, tuple) else (value,)
            if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
                raise ValueError(f"config field {f.name!r} must hold positive integers, got {value!r}")
            _check_caps(f.name, items)

    def _unused_fields(self) -> tuple[str, ...]:
        return ("style_hidden",) if self.style_features == "learned" else ("style_widths",)

    @property
    def format_version(self) -> int:
        """The lowest format that describes this architecture (see ``FORMAT_VERSION``)."""
        return 1 if self.style_features == "learned" else 2

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config as JSON data, without the fields the other kind of E_s has: a format-1 model's
        dict (and so its fingerprint) is what it was before ``style_features`` existed."""
        data: dict[str, Any] = {"format_version": self.format_version}
        unused = self._unused_fields() + (("style_features",) if self.style_features == "learned" else ())
        for f in dataclasses.fields(self):
            if f.name in unused:
                continue
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "StyleFusionConfig":
        if not isinstance(data, dict):
            raise ModelFormatError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if not isinstance(version, int):
            raise ModelFormatError(f"{source}: 'format_version' is missing or not an integer")
        if version > FORMAT_VERSION:
            raise ModelFormatError(
                f"{source}: format_version {version} is newer than this StyleFusion reads "
                f"({FORMAT_VERSION}); update the comfyui-stylefusion package"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"format_version"})
        if unknown:
            raise ModelFormatError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**{k: v for k, v in data.items() if k != "format_version"})
        except (TypeError, ValueError) as exc:
            raise ModelFormatError(f"{source}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: str | os.PathLike) -> "StyleFusionConfig":
        from ..storage.weights import MAX_JSON_BYTES, read_capped  # weights imports torch; config stays light

        path = os.fspath(path)
        if not os.path.lexists(path):
            raise ModelFormatError(f"{path}: config.json not found")
        try:
            data = json.loads(read_capped(path, MAX_JSON_BYTES, "config.json").decode("utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ModelFormatError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source=path)

    def replace(self, **changes: Any) -> "StyleFusionConfig":
        return dataclasses.replace(self, **changes)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(StyleFusionConfig)}

#: A tiny architecture for unit tests and smoke runs (random weights build in milliseconds).
TINY_CONFIG = StyleFusionConfig(
    name="tiny",
    content_width_s4=8,
    content_width=16,
    style_widths=(8, 16, 16, 16),
    style_dim=8,
    style_image_size=64,
    generator_width_s4=8,
    generator_width_s2=4,
    mapping_width=32,
    disc_widths=(8, 16),
    disc_scales=2,
)

__all__ = ["FORMAT_VERSION", "STYLE_FEATURES", "StyleFusionConfig", "TINY_CONFIG"]
