"""The training objective: the paper's adversarial game plus content, style and reconstruction terms.

This is where the objective is written down; ``loop.py`` computes it, ``config.LossWeights`` holds its
weights λ and the model card (``export.py``) reports them. Each term is one small function below.

One step, with a batch of content photos x_c, style images x_s (crops), another crop r of each style
image and noise z::

    c = E_c(x_c),  s = E_s(x_s),  y = G(c, s, z)                       stylised photo
    r_c = G(c, E_s(x_c), z),  r_s = G(E_c(x_s), s, z)                  reconstructions

Adversarial, the paper's min-max min_G max_D 𝓛(G,D) = E[log D(x)] + E[log(1 − D(G(z)))], x real artworks,
asked by D (``networks/discriminator.py``) twice: realism — is it a painting — and style match — does it
carry the style of the reference crop r of its painting:
  * D maximises it: ``d_loss`` = softplus(−D(x)) + softplus(D(G(z))) (= −log σ(D(x)) − log(1 − σ(D(G(z))))),
    for realism on (x_s, y) and for the match on ((x_s, r), (y, r)), plus ``d_fake_loss`` on
    (x_s, r of another painting) so that D must read the reference; ``r1_penalty`` γ/2·‖∇ₓD(x)‖² on
    real images every few steps (lazy R1).
  * G uses the non-saturating form ``g_adv_loss`` = softplus(−D(G(z))) = −log σ(D(G(z))) on both heads,
    which gives strong gradients early, when D easily rejects G's images.

G, with E_c and E_s, minimises (each λ a field of ``LossWeights``)::

    λ_adversarial·g_adv_loss(D_realism(y)) + λ_style_match·g_adv_loss(D_match(y, r))
    + λ_content·content_loss(y, x_c) + λ_style·style_stats_loss(y, x_s)
    + λ_gram·gram_loss(y, x_s) + λ_color·color_loss(y, x_s)
    + λ_reconstruction·(reconstruction_loss(r_c, x_c) + reconstruction_loss(r_s, x_s))
    + λ_style_latent·|E_s(y) − s| + λ_content_latent·|E_c(y) − c|

The perceptual terms compare features of a frozen network Φ (see ``perceptual.py``; with
``relative_losses`` the style and Gram terms are relative to their targets' size); the content-latent
term compares E_c's learned channels only (the colour thumbnail's colours are meant to change).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..networks.layers import channel_stats, mean_std, relative_error


def d_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.softplus(-r).mean() + F.softplus(f).mean() for r, f in zip(real_logits, fake_logits)) / len(real_logits)


def d_fake_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """The fake half of ``d_loss`` alone (pairs D must reject: a painting with another painting's reference)."""
    return sum(F.softplus(f).mean() for f in fake_logits) / len(fake_logits)


def g_adv_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.softplus(-f).mean() for f in fake_logits) / len(fake_logits)


def r1_penalty(real: torch.Tensor, real_logits: list[torch.Tensor]) -> torch.Tensor:
    """E[‖∇ₓ D(x)‖²] over real images (``real`` must require grad)."""
    grad, = torch.autograd.grad(sum(l.sum() for l in real_logits), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def _normalized(f: torch.Tensor) -> torch.Tensor:
    mean, std = channel_stats(f)
    return (f - mean) / std


def content_loss(out_feats, content_feats, layers) -> torch.Tensor:
    """Instance-normalised Φ features must match: structure kept, colour and contrast free to change."""
    return sum(F.mse_loss(_normalized(out_feats[i]), _normalized(content_feats[i])) for i in layers) / len(layers)


def style_stats_loss(out_feats, style_feats, layers, relative: bool = False) -> torch.Tensor:
    """AdaIN's style loss: per-channel means and stds of Φ's features must match the style image's.
    ``relative``: each layer's squared error is divided by the size of its target,
    ‖(μ,σ)(y) − (μ,σ)(s)‖² / ‖(μ,σ)(s)‖² — scale-free, so every layer has the same say whatever its
    activation scale (VGG's grow ~10x per stage); the form the loss probe (``probe.py``) measured."""
    total = 0.0
    for i in layers:
        if relative:
            target = mean_std(style_feats[i])
            total = total + relative_error(mean_std(out_feats[i]) - target, target).mean()
        else:
            (mo, so), (ms, ss) = channel_stats(out_feats[i]), channel_stats(style_feats[i])
            total = total + F.mse_loss(mo, ms) + F.mse_loss(so, ss)
    return total / len(layers)


def gram(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    x = f.reshape(b, c, h * w).float()
    return x @ x.transpose(1, 2) / (c * h * w)


def gram_loss(out_feats, style_feats, layers, relative: bool = False) -> torch.Tensor:
    """Gram matrices of Φ's features must match the style image's (``relative``: as ``style_stats_loss``)."""
    total = 0.0
    for i in layers:
        go, gs = gram(out_feats[i]), gram(style_feats[i])
        if relative:
            total = total + relative_error(go - gs, gs).mean()
        else:
            total = total + F.mse_loss(go, gs)
    return total / len(layers)


def color_loss(out: torch.Tensor, style: torch.Tensor, scales=(1, 4, 16)) -> torch.Tensor:
    """RGB mean and 3x3 covariance of output vs style image, at several blur scales (palette + tonal layout)."""
    total = 0.0
    for s in scales:
        a = F.avg_pool2d(out, s) if s > 1 else out
        b = F.avg_pool2d(style, s) if s > 1 else style
        a, b = a.flatten(2), b.flatten(2)
        ma, mb = a.mean(-1, keepdim=True), b.mean(-1, keepdim=True)
        ca = (a - ma) @ (a - ma).transpose(1, 2) / a.shape[-1]
        cb = (b - mb) @ (b - mb).transpose(1, 2) / b.shape[-1]
        total = total + F.mse_loss(ma, mb) + F.mse_loss(ca, cb) * 10
    return total / len(scales)


def reconstruction_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MUNIT's image reconstruction term: L1 in pixels."""
    return F.l1_loss(out, target)
