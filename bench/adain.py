"""The AdaIN reference of ``stylefusion bench`` (Huang & Belongie 2017), with random weights: a speed
reference only, not a usable stylizer."""

from __future__ import annotations

import torch
from torch import nn

from ..networks.layers import channel_stats, mac_count
from ..networks.vgg19 import VGG19Features

ADAIN_NOTE = ("AdaIN: VGG19 (torchvision, weights=None) to relu4_1 for content and style + the mirrored "
              "decoder, random weights - a speed reference only, not a usable stylizer.")


def adain_networks():
    """Huang & Belongie's AdaIN: VGG19 encoder to relu4_1 (torchvision layout) + the mirrored decoder."""
    encoder = VGG19Features().features  # conv1_1 … relu4_1 (the trunk alone: no input normalisation)

    def block(c_in, c_out, act=True):
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
        return layers + ([nn.ReLU()] if act else [])

    up = nn.Upsample(scale_factor=2, mode="nearest")
    decoder = nn.Sequential(
        *block(512, 256), up,
        *block(256, 256), *block(256, 256), *block(256, 256), *block(256, 128), up,
        *block(128, 128), *block(128, 64), up,
        *block(64, 64), *block(64, 3, act=False),
    )
    return encoder.eval(), decoder.eval()


def adain_method(content, style):
    """The AdaIN reference on ``content`` [B,3,H,W] in the style of ``style`` [1,3,h,w]: (run, facts)."""
    torch.manual_seed(0)
    encoder, decoder = adain_networks()
    # channels-last: the faster oneDNN layout for these wide convs, the same courtesy StyleFusion gets.
    encoder, decoder = encoder.to(memory_format=torch.channels_last), decoder.to(memory_format=torch.channels_last)
    content = content.contiguous(memory_format=torch.channels_last)
    style = style.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad():
            f_c, f_s = encoder(content), encoder(style)
            mean_c, std_c = channel_stats(f_c)
            mean_s, std_s = channel_stats(f_s)
            return decoder((f_c - mean_c) / std_c * std_s + mean_s)

    probe = content[:1, :, :64, :64]
    with torch.no_grad():
        f_probe = encoder(probe)
    macs = (mac_count(encoder, probe) + mac_count(decoder, f_probe)) * content.shape[-2] * content.shape[-1] / 64**2
    macs = macs * content.shape[0] + mac_count(encoder, style)
    return run, {"available": True, "name": "AdaIN (VGG19 relu4_1 + decoder, random weights)", "note": ADAIN_NOTE,
                 "gflop": 2 * macs / 1e9, "output_size": list(content.shape[-2:])}
