"""Style files: ``.safetensors`` holding style vectors ``[B,D]`` and metadata.

Tensors: ``style_vectors`` [B,D] and, for a model whose E_s is vgg16, ``style_statistics`` [B,K] (what
E_s read of the style images; style refinement needs them). Files without statistics (older ones, or
from a model with a learned E_s) load with ``statistics`` None; readers that do not know the extra tensor
ignore it, so the format version stays 1.

Metadata keys: ``stylefusion_style`` (format version), ``name``, ``model_fingerprint``,
``model_name``, ``source`` (free text: where the style came from). A style made by another model
is refused with both model names in the message.
"""

from __future__ import annotations

import os

from ..networks.values import StyleVector
from ..networks.model import StyleFusionModel
from ..networks.errors import InputError, ModelFormatError, ModelMismatchError
from .weights import check_finite, read_safetensors, write_safetensors

STYLE_FORMAT_VERSION = 1
STYLE_KEY = "style_vectors"
STATISTICS_KEY = "style_statistics"


def save_style(style: StyleVector, path: str | os.PathLike, source: str = "") -> str:
    path = os.fspath(path)
    if not path.lower().endswith(".safetensors"):
        path += ".safetensors"
    if len(os.fsencode(os.path.basename(path))) > 255:  # the file system's limit for one name
        raise InputError(f"name: {os.path.basename(path)[:40]}… is {len(os.fsencode(os.path.basename(path)))} bytes "
                         "long as a file name; file names hold at most 255 bytes, so shorten it")
    tensors = {STYLE_KEY: style.tensor.float().cpu().contiguous()}
    if style.statistics is not None:
        tensors[STATISTICS_KEY] = style.statistics.float().cpu().contiguous()
    write_safetensors(path, tensors, {
        "stylefusion_style": str(STYLE_FORMAT_VERSION), "name": style.name,
        "model_fingerprint": style.model_fingerprint, "model_name": style.model_name, "source": source,
    })
    return path


def load_style(path: str | os.PathLike, model: StyleFusionModel | None = None) -> StyleVector:
    """Read a style file; with ``model``, refuse styles made by a different model."""
    path = os.fspath(path)
    tensors, meta = read_safetensors(path)
    if "stylefusion_style" not in meta or STYLE_KEY not in tensors:
        raise ModelFormatError(f"{path}: not a StyleFusion style file (no style vectors in it)")
    try:
        version = int(meta["stylefusion_style"])
    except ValueError:
        raise ModelFormatError(f"{path}: unreadable style format version {meta['stylefusion_style']!r}") from None
    if version > STYLE_FORMAT_VERSION:
        raise ModelFormatError(f"{path}: style format {version} is newer than this StyleFusion reads; update the pack")
    vectors = tensors[STYLE_KEY]
    check_finite(path, {STYLE_KEY: vectors})
    if vectors.dim() != 2:
        raise ModelFormatError(f"{path}: style vectors must be [B,D], found shape {tuple(vectors.shape)}")
    statistics = tensors.get(STATISTICS_KEY)
    if statistics is not None:
        check_finite(path, {STATISTICS_KEY: statistics})
        if statistics.dim() != 2 or statistics.shape[0] != vectors.shape[0] or not statistics.is_floating_point():
            raise ModelFormatError(f"{path}: style statistics must be float [B,K] with the {vectors.shape[0]} rows of "
                                   f"the style vectors, found {statistics.dtype} {tuple(statistics.shape)}")
        statistics = statistics.float()
    style = StyleVector(vectors.float(), meta.get("model_fingerprint", ""), meta.get("model_name", "unknown"),
                        meta.get("name") or os.path.splitext(os.path.basename(path))[0], statistics)
    if model is not None:
        if style.model_fingerprint != model.fingerprint:
            raise ModelMismatchError(
                f"style: {os.path.basename(path)} was made by model {style.model_name} [{style.model_fingerprint[:8]}], "
                f"not by the loaded model {model.display_name}; load model {style.model_name} to use it as it is, "
                f"or encode the style again with this model"
            )
        if vectors.shape[1] != model.config.style_dim:
            raise ModelFormatError(f"{path}: style vectors have {vectors.shape[1]} values, the model needs {model.config.style_dim}")
    return style
