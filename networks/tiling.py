"""Tiled execution of local networks, so memory is bounded by the tile and not by the image.

A network is *local* when each output pixel depends only on a window of the input (no
normalisation over the whole image). E_c and G's ``render`` are local; G's AdaIN ``body`` is not and
always runs on the whole stride-8 map, which is small. Each tile is computed with a halo of context
at least as large as the receptive field, so its interior equals the untiled result; neighbouring
tiles overlap by ``overlap`` pixels and are cross-faded with linear ramps (feathering), so no seam
can show. A CUDA/MPS out-of-memory error retries with half the tile size, down to 64 px, as
ComfyUI's own tiled upscaler does.
"""

from __future__ import annotations

from typing import Callable

import torch

#: fn(region) -> output tensor for that region. region = (top, left, bottom, right) in output px.
RegionFn = Callable[[tuple[int, int, int, int]], torch.Tensor]
Progress = Callable[[int, int], None]

MIN_TILE = 64


def _ramp(length: int, fade_in: int, fade_out: int, dtype, device) -> torch.Tensor:
    w = torch.ones(length, dtype=dtype, device=device)
    if fade_in:
        w[:fade_in] = torch.linspace(0, 1, fade_in + 2, dtype=dtype, device=device)[1:-1]
    if fade_out:
        w[length - fade_out:] = torch.linspace(1, 0, fade_out + 2, dtype=dtype, device=device)[1:-1]
    return w


def tile_starts(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Tile origins covering [0, size) with steps of tile − overlap, aligned to ``align`` px."""
    if tile >= size:
        return [0]
    step = max(align, (tile - overlap) // align * align)
    starts = list(range(0, size - tile, step)) + [max(0, (size - tile) // align * align)]
    return sorted(set(starts))


def run_tiled(
    fn: RegionFn,
    height: int,
    width: int,
    tile: int,
    overlap: int,
    align: int = 8,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Assemble fn's outputs for overlapping tiles of a ``height``×``width`` output (multiples of ``align``)."""
    tile = max(MIN_TILE, tile // align * align)
    while True:
        try:
            return _run(fn, height, width, tile, min(overlap, tile // 2) // align * align, align, progress)
        except torch.OutOfMemoryError:
            if tile <= MIN_TILE:
                raise
            tile = max(MIN_TILE, tile // 2 // align * align)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _run(fn, height, width, tile, overlap, align, progress):
    ys, xs = tile_starts(height, tile, overlap, align), tile_starts(width, tile, overlap, align)
    out = None
    # Every tile's weight is an outer product wy ⊗ wx on a grid of rows × columns, so their sum is
    # the outer product of the row sums and the column sums: two vectors, not a full-size map.
    weight_y = weight_x = None
    total, done = len(ys) * len(xs), 0
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            bottom, right = min(y + tile, height), min(x + tile, width)
            piece = fn((y, x, bottom, right))
            if out is None:  # in the pieces' memory layout, so accumulating them is a straight copy
                fmt = memory_format_of(piece)
                out = piece.new_empty(piece.shape[0], piece.shape[1], height, width).contiguous(memory_format=fmt)
                out.zero_()
                weight_y, weight_x = piece.new_zeros(height), piece.new_zeros(width)
            wy, wx = _tile_ramps(ys, xs, i, j, tile, bottom, right, piece.dtype, piece.device)
            out[:, :, y:bottom, x:right].addcmul_(piece, wy[:, None] * wx[None, :])
            if j == 0:
                weight_y[y:bottom] += wy
            if i == 0:
                weight_x[x:right] += wx
            done += 1
            if progress is not None:
                progress(done, total)
    # In place and in bands of rows: the output is the only full-size tensor.
    inverse_x = weight_x.clamp_min_(1e-8).reciprocal_()
    for top in range(0, height, tile):
        band = weight_y[top:top + tile].clamp_min(1e-8).reciprocal_()
        out[:, :, top:top + tile].mul_(band[:, None] * inverse_x[None, :])
    return out


def _tile_ramps(ys, xs, i, j, tile, bottom, right, dtype, device):
    """Cross-fade ramps of tile (i, j): it fades only where a neighbour overlaps it."""
    y, x = ys[i], xs[j]
    fade_top = ys[i - 1] + tile - y if i > 0 else 0
    fade_left = xs[j - 1] + tile - x if j > 0 else 0
    fade_bottom = bottom - ys[i + 1] if i < len(ys) - 1 else 0
    fade_right = right - xs[j + 1] if j < len(xs) - 1 else 0
    wy = _ramp(bottom - y, max(fade_top, 0), max(fade_bottom, 0), dtype, device)
    wx = _ramp(right - x, max(fade_left, 0), max(fade_right, 0), dtype, device)
    return wy, wx


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last if ``x`` (or the tensor it is a crop of) stores channels innermost, else contiguous."""
    if x.dim() == 4 and x.shape[1] > 1 and x.stride(1) < x.stride(3):
        return torch.channels_last
    return torch.contiguous_format
