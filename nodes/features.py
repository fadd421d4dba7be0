"""Content features (SF_FEATURES): extract them, fuse two of them, look at them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import ContentFeatures, extract_features, fuse_features
from ..networks.feature_extractor import CONTENT_STRIDE
from ..networks.fusion import FUSION_MODES
from . import comfyui
from .convert import cat_features, image_from_api, image_to_api, mask_to_api

IMAGE_TOOLTIP = "IMAGE batch; RGBA images lose their alpha and grayscale images become RGB. At least 64×64 px."


class StyleFusionExtractFeatures:
    DESCRIPTION = (
        "Runs the feature extractor E_c: the content code of each image (its structure, without its style). "
        "A batch is processed frame by frame."
    )
    CATEGORY = "StyleFusion/features"
    RETURN_TYPES = ("SF_FEATURES",)
    RETURN_NAMES = ("features",)
    OUTPUT_TOOLTIPS = ("Content features [B,C,H/8,W/8] with the source images; feed Generate or Fuse Features.",)
    FUNCTION = "extract"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("SF_MODEL", {"tooltip": "The StyleFusion model (from StyleFusion Model Loader)."}),
            "image": ("IMAGE", {"tooltip": "Images whose content (layout, shapes) to keep. " + IMAGE_TOOLTIP}),
        }}

    def extract(self, model, image):
        frames = image_to_api(image, "image")
        progress = comfyui.FrameProgress(frames.shape[0])
        parts = []
        for i in range(frames.shape[0]):
            progress.start(i)
            parts.append(extract_features(model, frames[i:i + 1]))
            progress.done(i)
        return (cat_features(parts),)


class StyleFusionFuseFeatures:
    DESCRIPTION = (
        "Fuses two content codes into one: 'blend' cross-fades A's and B's structures by weight, 'mask' takes B "
        "where the mask is white, 'stats' keeps A's layout with B's feature statistics (AdaIN swap). B is resized "
        "to A, so the result has A's size."
    )
    CATEGORY = "StyleFusion/features"
    RETURN_TYPES = ("SF_FEATURES",)
    RETURN_NAMES = ("features",)
    OUTPUT_TOOLTIPS = ("The fused content features (A's size); feed Generate.",)
    FUNCTION = "fuse"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "features_a": ("SF_FEATURES", {"tooltip": "Content features of image A (sets the output size)."}),
                "features_b": ("SF_FEATURES", {"tooltip": "Content features of image B (resized to A; batch 1 or A's)."}),
                "weight": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                           "How much of B: 0 = only A, 1 = only B (inside the mask, if one is connected)."}),
                "mode": (list(FUSION_MODES), {"default": "blend", "tooltip":
                         "blend: linear cross-fade; mask: composite by the mask (needs a mask); "
                         "stats: A's layout with B's feature statistics."}),
            },
            "optional": {
                "mask": ("MASK", {"tooltip":
                         "Where B is used (white = B). Any size: it is resized to the features. Required by 'mask' mode."}),
            },
        }

    def fuse(self, features_a: ContentFeatures, features_b: ContentFeatures, weight: float, mode: str, mask=None):
        mask = mask_to_api(mask, features_a.batch_size, "mask")
        return (fuse_features(features_a, features_b, weight, mask, mode),)


class StyleFusionPreviewFeatures:
    DESCRIPTION = (
        "Shows what the model sees: the three main directions (PCA) of the content features as red, green and "
        "blue, one 8×8 px cell per feature, at the source image's size. Regions the model treats alike get "
        "alike colours. All frames of a batch share one PCA basis, so their colours are comparable."
    )
    CATEGORY = "StyleFusion/features"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("A colour picture of the feature map (source image size); connect to Preview Image.",)
    FUNCTION = "preview"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "features": ("SF_FEATURES", {"tooltip": "Content features from Extract Features or Fuse Features."}),
        }}

    def preview(self, features: ContentFeatures):
        return (image_from_api(pca_picture(features.visible, features.image_size)),)


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
