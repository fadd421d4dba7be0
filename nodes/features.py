"""Content features (SF_FEATURES): extract them, fuse two of them, look at them."""

from __future__ import annotations

from ..models import ContentFeatures, extract_features, fuse_features
from ..networks.fusion import FUSION_MODES
from ..networks.pca import pca_picture
from .convert import image_from_api, image_to_api, mask_to_api
from .frames import cat_features, each_frame

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
        parts = each_frame(model, frames.shape[0], lambda i, _: extract_features(model, frames[i:i + 1]))
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
