"""A picture of a content code: its first three principal components as red, green and blue.

Pure tensor maths (no ComfyUI): the Preview Features node shows what E_c sees with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .feature_extractor import CONTENT_STRIDE


def pca_picture(code: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Feature map ``[B,C,h,w]`` → RGB picture ``[B,3,H,W]`` of its first three principal components.

    Each component is scaled by its 1st..99th percentile to 0..1; its sign is fixed so the result
    does not flip between runs. Cells are shown as blocks (nearest upsampling) and the picture is
    cropped to the source image ``size``.
    """
    code = code.detach().float().cpu()
    b, c, h, w = code.shape
    samples = code.permute(0, 2, 3, 1).reshape(-1, c)
    samples = samples - samples.mean(dim=0, keepdim=True)
    k = min(3, c)
    # Eigenvectors of the C×C covariance: cheap for any number of cells.
    _, vectors = torch.linalg.eigh(samples.T @ samples)
    basis = vectors.flip(-1)[:, :k]  # [C,k], largest variance first
    # Fix each direction's sign: its largest loading positive.
    signs = torch.sign(basis.gather(0, basis.abs().argmax(dim=0, keepdim=True)))
    projected = samples @ (basis * torch.where(signs == 0, torch.ones_like(signs), signs))
    if k < 3:
        projected = torch.cat([projected, projected.new_zeros(projected.shape[0], 3 - k)], dim=1)
    low = torch.quantile(projected, 0.01, dim=0)
    high = torch.quantile(projected, 0.99, dim=0)
    picture = ((projected - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)
    picture = picture.reshape(b, h, w, 3).permute(0, 3, 1, 2)
    picture = F.interpolate(picture, scale_factor=CONTENT_STRIDE, mode="nearest")
    return picture[..., :size[0], :size[1]]
