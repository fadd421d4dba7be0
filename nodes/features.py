"""Content features (SF_FEATURES): extract them, fuse two of them, look at them."""

from __future__ import annotations

from ..models import ContentFeatures, extract_features, fuse_features
from ..networks.fusion import FUSION_MODES
from ..networks.pca import pca_picture
from .convert import image_from_api, image_to_api, mask_to_api
from .declare import Node, model_spec, output, weight_spec
from .frames import cat_features, each_frame

IMAGE_TOOLTIP = "IMAGE batch; RGBA images lose their alpha and grayscale images become RGB. At least 64×64 px."


class StyleFusionExtractFeatures(Node):
    CATEGORY = "StyleFusion/features"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_FEATURES", "features",
        "Content features [B,C,H/8,W/8] with the source images; feed Generate or Fuse Features.")
    FUNCTION = "extract"
    DESCRIPTION = (
        "Runs the feature extractor E_c: the content code of each image (its structure, without its style). "
        "A batch is processed frame by frame."
    )
    REQUIRED = {
        "model": model_spec(),
        "image": ("IMAGE", {"tooltip": "Images whose content (layout, shapes) to keep. " + IMAGE_TOOLTIP}),
    }

    def extract(self, model, image):
        frames = image_to_api(image, "image")
        parts = each_frame(model, frames.shape[0], lambda i, _: extract_features(model, frames[i:i + 1]))
        return (cat_features(parts),)


class StyleFusionFuseFeatures(Node):
    CATEGORY = "StyleFusion/features"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_FEATURES", "features", "The fused content features (A's size); feed Generate.")
    FUNCTION = "fuse"
    DESCRIPTION = (
        "Fuses two content codes into one: 'blend' cross-fades A's and B's structures by weight, 'mask' takes B "
        "where the mask is white, 'stats' keeps A's layout with B's feature statistics (AdaIN swap). B is resized "
        "to A, so the result has A's size."
    )
    REQUIRED = {
        "features_a": ("SF_FEATURES", {"tooltip": "Content features of image A (sets the output size)."}),
        "features_b": ("SF_FEATURES", {"tooltip": "Content features of image B (resized to A; batch 1 or A's)."}),
        "weight": weight_spec("How much of B: 0 = only A, 1 = only B (inside the mask, if one is connected)."),
        "mode": (list(FUSION_MODES), {"default": "blend", "tooltip":
                 "blend: linear cross-fade; mask: composite by the mask (needs a mask); "
                 "stats: A's layout with B's feature statistics."}),
    }
    OPTIONAL = {
        "mask": ("MASK", {"tooltip":
                 "Where B is used (white = B). Any size: it is resized to the features. Required by 'mask' mode."}),
    }

    def fuse(self, features_a: ContentFeatures, features_b: ContentFeatures, weight: float, mode: str, mask=None):
        mask = mask_to_api(mask, features_a.batch_size, "mask")
        return (fuse_features(features_a, features_b, weight, mask, mode),)


class StyleFusionPreviewFeatures(Node):
    CATEGORY = "StyleFusion/features"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "IMAGE", "image", "A colour picture of the feature map (source image size); connect to Preview Image.")
    FUNCTION = "preview"
    DESCRIPTION = (
        "Shows what the model sees: the three main directions (PCA) of the content features as red, green and "
        "blue, one 8×8 px cell per feature, at the source image's size. Regions the model treats alike get "
        "alike colours. All frames of a batch share one PCA basis, so their colours are comparable."
    )
    REQUIRED = {
        "features": ("SF_FEATURES", {"tooltip": "Content features from Extract Features or Fuse Features."}),
    }

    def preview(self, features: ContentFeatures):
        return (image_from_api(pca_picture(features.visible, features.image_size)),)
