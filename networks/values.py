"""The values that flow between the networks and through the graph, with their provenance.

``ContentFeatures`` (SF_FEATURES) is E_c's content code of an image batch, ``StyleVector`` (SF_STYLE)
E_s's style vectors; both remember the model that made them (its fingerprint), so a value is never
rendered by a model that cannot read it. The checks here are the ones every user of a value needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import InputError, ModelMismatchError
from .feature_extractor import CONTENT_STRIDE, MARGIN
from .model import StyleFusionModel


@dataclass(frozen=True)
class ContentFeatures:
    """SF_FEATURES: content code c = E_c(x) of an image batch, and what G needs to render it back.

    ``tensor`` [B,C,⌈H/8⌉,⌈W/8⌉]; ``image`` [B,3,H,W] is the source (used by preserve_color);
    ``source_style`` [B,D] is E_s of the source itself (the style at strength 0).
    """

    tensor: torch.Tensor
    image: torch.Tensor
    source_style: torch.Tensor
    model_fingerprint: str
    model_name: str

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.image.shape[-2:])

    @property
    def visible(self) -> torch.Tensor:
        """The content code without the mirrored margin cells: [B,C,⌈H/8⌉,⌈W/8⌉]."""
        m = MARGIN // CONTENT_STRIDE
        h, w = self.image_size
        return self.tensor[..., m:m + -(-h // CONTENT_STRIDE), m:m + -(-w // CONTENT_STRIDE)]

    @property
    def batch_size(self) -> int:
        return self.tensor.shape[0]


@dataclass(frozen=True)
class StyleVector:
    """SF_STYLE: style vectors s = E_s(x) ``[B,D]`` with the model that made them and a name.

    ``statistics`` [B,K] float32: what E_s read of the style image(s) (``VGGStyleEncoder.statistics``),
    kept so the vector can be refined against them (``refine_style``); None for a model whose E_s is
    learned, and for styles from an older version.
    """

    tensor: torch.Tensor
    model_fingerprint: str
    model_name: str
    name: str = "style"
    statistics: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.tensor.shape[0]


def all_finite(x: torch.Tensor) -> bool:
    """``torch.isfinite(x).all()`` in one reduction pass and no full-size temporaries.

    A sum is finite only if every term is (inf and NaN propagate); only when it is not — a NaN/inf,
    or finite values so huge that the sum overflows — the exact element-wise check decides.
    """
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def check_model(model, name: str = "model") -> StyleFusionModel:
    if not isinstance(model, StyleFusionModel):
        raise InputError(f"{name}: expected a StyleFusion model (load one with load_model), got {type(model).__name__}")
    return model


def check_value(value, kind: type, name: str):
    """``value`` must be a ContentFeatures / StyleVector with finite numbers; the error names the input."""
    if not isinstance(value, kind):
        what = "content features (from extract_features)" if kind is ContentFeatures else "a style (from encode_style)"
        raise InputError(f"{name}: expected {what}, got {type(value).__name__}")
    statistics = getattr(value, "statistics", None)
    if not all_finite(value.tensor) or (statistics is not None and not all_finite(statistics)):
        raise InputError(f"{name}: holds NaN or infinite values; encode it again (a damaged style file or a "
                         "diverged model produces them)")
    return value


def check_same_model(model: StyleFusionModel, value, name: str, kind: type | None = None) -> None:
    """``value`` (a ``kind``: ContentFeatures or StyleVector; by default a style unless it is features)
    must be finite and made by ``model``."""
    check_model(model)
    check_value(value, kind or (ContentFeatures if isinstance(value, ContentFeatures) else StyleVector), name)
    if value.model_fingerprint != model.fingerprint:
        raise ModelMismatchError(
            f"{name}: was made by model {value.model_name} [{value.model_fingerprint[:8]}] but is used with "
            f"model {model.display_name}; load model {value.model_name} to use it, or encode it again with this model"
        )


def check_pair(a, b, name_a: str, name_b: str) -> None:
    kind = StyleVector if name_a.startswith("style") else ContentFeatures
    check_value(a, kind, name_a)
    check_value(b, kind, name_b)
    if a.model_fingerprint != b.model_fingerprint:
        raise ModelMismatchError(
            f"{name_b}: was made by model {b.model_name} [{b.model_fingerprint[:8]}], {name_a} by model "
            f"{a.model_name} [{a.model_fingerprint[:8]}]; use values from the same model"
        )
