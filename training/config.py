"""Training configuration: one dataclass, every field documented; JSON files in ``training/configs/``.

A config file holds ``{"model": {...StyleFusionConfig fields...}, ...TrainingConfig fields...}``;
unknown keys are refused so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from ..networks.config import StyleFusionConfig


@dataclass
class LossWeights:
    """λ for each term of G's side of the objective; ``losses.py`` states the objective and each term."""

    adversarial: float = 0.1
    """Pushes outputs towards real artworks' texture, as D's realism head sees it."""
    style_match: float = 0.1
    """Pushes outputs towards their own painting, as D's style-match head sees it (another crop of the
    painting is the reference)."""
    content: float = 1.0
    """Keeps the photo's structure (colour and contrast are free to change)."""
    style: float = 1.0
    """Matches the style image's feature statistics (AdaIN's style loss), all style layers."""
    gram: float = 20.0
    """Matches the style image's channel correlations: texture and brush marks."""
    color: float = 20.0
    """Matches the style image's palette."""
    reconstruction: float = 10.0
    """Gives back photos (strength 0) and artworks from their own codes."""
    style_latent: float = 1.0
    """The output must carry the style it was given."""
    content_latent: float = 1.0
    """The output must keep the content code it was given."""


@dataclass
class TrainingConfig:
    model: StyleFusionConfig = field(default_factory=StyleFusionConfig)
    """Architecture of the networks (see ``networks/config.py``)."""
    losses: LossWeights = field(default_factory=LossWeights)
    """Weights λ of the loss terms."""
    crop_size: int = 256
    """Side of the random square crops of content and style images."""
    crop_scale: tuple[float, float] = (0.25, 1.0)
    """Area range (fraction of the image) of random resized crops before scaling to crop_size."""
    batch_size: int = 8
    """Content/style pairs per step and per process."""
    lr_generator: float = 2e-4
    """Adam learning rate of E_c, E_s and G."""
    lr_discriminator: float = 2e-4
    """Adam learning rate of D."""
    betas: tuple[float, float] = (0.0, 0.99)
    """Adam β1, β2 for both (β1 = 0 as in StyleGAN2 / StarGAN v2: steadier adversarial training)."""
    r1_gamma: float = 1.0
    """γ of D's R1 penalty on real artworks (``losses.py``): keeps D smooth so G and D stay balanced."""
    r1_every: int = 4
    """Apply R1 every N steps (lazy regularisation), scaled by N."""
    d_every: int = 1
    """Update D every N generator steps (raise it if D overpowers G)."""
    ema_decay: float = 0.999
    """EMA decay of the inference networks; exported models use the EMA weights."""
    style_balance: str = "uniform"
    """How style images are drawn: 'uniform' over files, or 'by_folder' (each sub-folder equally often)."""
    perceptual: str = "efficientnet_lite0"
    """Frozen network Φ for content/style losses: 'efficientnet_lite0' (offline) or 'vgg19' (Hub)."""
    content_layers: tuple[int, ...] = (2, 3)
    """Indices into Φ's feature list used by the content loss (Lite0 taps: strides 2, 4, 8, 16)."""
    style_layers: tuple[int, ...] = (0, 1, 2, 3)
    """Indices into Φ's feature list used by the style and Gram losses."""
    relative_losses: bool = False
    """Style and Gram terms relative to their targets' size (scale-free across Φ's layers; ``losses.py``).
    Right for VGG16, whose activations grow ~10x per stage."""
    trainable: tuple[str, ...] = ()
    """Which parts of the inference networks train, as module paths: 'style_encoder', 'generator',
    'generator.mapping', 'feature_extractor'… The rest stay as they are (as loaded by ``init_from``).
    Empty: all of E_c, E_s and G train. Training only E_s against a released G asks what the style
    codes alone can buy: the whole objective is kept, nothing else moves."""
    init_from: str = ""
    """Start a new run from a released model (a name, folder or Hub id): every tensor whose name and
    shape fit is copied; a different kind of E_s is first taught to give the old one's style vectors
    (``warm_start.py``). Empty: random initialisation."""
    holdout_fraction: float = 0.08
    """Fraction of content and style files kept out of training (by a hash of the file name)."""
    seed: int = 0
    """Seeds everything; each step reseeds from (seed, step, rank), so resumed runs continue exactly."""
    log_every: int = 10
    """Write a line to stats.jsonl (and TensorBoard) every N steps."""
    sample_every: int = 250
    """Write samples/step-N.png (fixed photos × fixed styles) every N steps."""
    checkpoint_every: int = 250
    """Write a checkpoint every N steps (and always at the end of a run)."""
    keep_checkpoints: int = 3
    """How many recent checkpoints to keep."""
    max_bad_steps: int = 5
    """Stop the run after this many NaN/inf losses in a row."""
    cache_images: bool = True
    """Keep decoded images in memory, in each data worker (fine for a few thousand images; turn off for
    COCO/WikiArt)."""
    data_workers: int = 2
    """Processes that decode and crop the next steps' images while the current step trains (0: decoded in
    the training process, between steps). The batches are the same whatever the number."""
    threads: int = 0
    """torch CPU threads (0 = PyTorch's default)."""

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainingConfig":
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown training config field {unknown[0]!r}")
        model = data.pop("model", None)
        losses = data.pop("losses", None) or {}
        loss_fields = {f.name for f in dataclasses.fields(LossWeights)}
        bad = sorted(set(losses) - loss_fields)
        if bad:
            raise ValueError(f"{source}: unknown loss weight {bad[0]!r} (known: {', '.join(sorted(loss_fields))})")
        for key in ("crop_scale", "betas", "content_layers", "style_layers", "trainable"):
            if key in data:
                data[key] = tuple(data[key])
        model_config = StyleFusionConfig() if model is None else StyleFusionConfig.from_dict(
            {"format_version": 1, **model} if "format_version" not in model else model, source=f"{source} (model)"
        )
        return cls(model=model_config, losses=LossWeights(**losses), **data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainingConfig":
        path = os.fspath(path)
        if not os.path.isfile(path):
            builtin = os.path.join(os.path.dirname(__file__), "configs", f"{path}.json")
            if os.path.isfile(builtin):
                path = builtin
            else:
                raise FileNotFoundError(f"--config: {path} not found (built-in configs: {', '.join(builtin_configs())})")
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh), source=path)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def setting_changes(self, new: "TrainingConfig") -> dict[str, list]:
        """What ``new`` sets differently, architecture aside: {field: [old, new]}, nested fields
        as "losses.style". A resumed run logs these (``CONFIG_CHANGED``) and the model card lists them."""
        return {k: v for k, v in _flat_diff(self.to_dict(), new.to_dict()).items() if not k.startswith("model.")}


#: The stats.jsonl event a run logs when it is resumed with changed settings.
CONFIG_CHANGED = "config changed on resume"


def describe_changes(changes: dict[str, list]) -> str:
    return ", ".join(f"{k} {old} → {new}" for k, (old, new) in changes.items())


def _flat_diff(old: dict, new: dict, prefix: str = "") -> dict:
    out = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(_flat_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            out[f"{prefix}{key}"] = [a, b]
    return out


def builtin_configs() -> list[str]:
    folder = os.path.join(os.path.dirname(__file__), "configs")
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json"))
