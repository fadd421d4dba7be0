"""Starting a run from a released model (``TrainingConfig.init_from``) instead of random weights.

Every tensor of the released model whose name and shape fit the new architecture is copied (E_c and
G, usually). When the new model's E_s is of another kind (``style_features``: a learnt encoder
replaced by one on frozen VGG16 statistics), the new E_s is first taught to give the old one's style
vectors on the training paintings — random crops, a least-squares fit of its MLP — so that G, which
learnt to read those vectors, starts from pictures it already knows how to make. D is not part of a
released model and starts afresh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..networks.model import StyleFusionModel
from .dataset import ImageFolder, random_resized_crop, step_generator


def copy_fitting(target: torch.nn.Module, source: torch.nn.Module) -> list[str]:
    """Copy every tensor of ``source``'s state dict whose name and shape ``target`` has; the names copied."""
    own = target.state_dict()
    fitting = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    target.load_state_dict(fitting, strict=False)
    return sorted(fitting)


def crop_views(folder: ImageFolder, indices, views: int, crop: int, gen: torch.Generator):
    """(index, [views,3,crop,crop] random crops) of each readable image of ``folder`` at ``indices``."""
    for index in indices:
        img = folder.image(index)
        if img is not None:
            yield index, torch.stack([random_resized_crop(img, crop, (0.25, 1.0), gen) for _ in range(views)])


@torch.no_grad()
def _views(source_encoder, target_encoder, paintings: ImageFolder, views: int, crop: int, seed: int):
    """(statistics the new E_s reads, vector the old E_s gives) of ``views`` random crops per painting."""
    stats, vectors = [], []
    for _, batch in crop_views(paintings, range(len(paintings)), views, crop, step_generator(seed, -1, 0)):
        vectors.append(source_encoder(batch).float())
        stats.append(target_encoder.describe(batch))
    return torch.cat(stats), torch.cat(vectors)


def distil_style_encoder(target_encoder, source_encoder, paintings: ImageFolder, views: int = 4,
                         steps: int = 2000, seed: int = 0) -> dict[str, float]:
    """Fit ``target_encoder``'s MLP (``from_statistics``) so it gives ``source_encoder``'s vectors on
    crops of ``paintings``; returns the fit's relative error before and after (1.0 = knows nothing)."""
    stats, vectors = _views(source_encoder, target_encoder, paintings, views, target_encoder.image_size, seed)
    return fit_encoder(target_encoder, stats, vectors, steps, seed)


def regression_error(encoder, stats: torch.Tensor, vectors: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of ``from_statistics(stats)`` to ``vectors``, relative to ``spread`` (the
    vectors' total variance: 1.0 = no better than their mean)."""
    return F.mse_loss(encoder.from_statistics(stats).float(), vectors, reduction="none").sum(1).mean() \
        / spread.clamp_min(1e-12)


def fit_encoder(encoder, stats: torch.Tensor, vectors: torch.Tensor, steps: int = 2000, seed: int = 0) -> dict[str, float]:
    """Adam on ``encoder``'s trainable parameters so that ``from_statistics(stats)`` [N,K] gives
    ``vectors`` [N,D]; the squared error relative to the vectors' spread, before and after."""
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=1e-3)
    spread = vectors.var(0, correction=0).sum()
    gen = torch.Generator().manual_seed(seed)

    def error(batch_stats, batch_vectors):
        return regression_error(encoder, batch_stats, batch_vectors, spread)

    with torch.no_grad():
        before = float(error(stats, vectors))
    for _ in range(steps):
        pick = torch.randint(len(stats), (min(256, len(stats)),), generator=gen)
        optimiser.zero_grad(set_to_none=True)
        error(stats[pick], vectors[pick]).backward()
        optimiser.step()
    with torch.no_grad():
        after = float(error(stats, vectors))
    return {"views": len(stats), "error_before": round(before, 4), "error_after": round(after, 4)}


def warm_start(nets: StyleFusionModel, source: StyleFusionModel, paintings: ImageFolder, seed: int = 0) -> dict:
    """Initialise ``nets`` from ``source`` (see the module doc); a record of what was done, for the run's log."""
    copied = copy_fitting(nets, source)
    record = {"event": "initialised from a released model", "source": source.display_name, "tensors_copied": len(copied)}
    if nets.config.style_features != source.config.style_features:
        nets.style_encoder.train()
        record["style_encoder_fit"] = distil_style_encoder(nets.style_encoder, source.style_encoder.eval(), paintings,
                                                           seed=seed)
    return record
