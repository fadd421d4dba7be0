"""Peak memory of tiled rendering: ``python docs/measure_tiled_memory.py 4000 8000 [--tile 1024]``.

Each size runs in a fresh process: the bundled model renders a random N×N photo with
``transfer(..., tile_size=…)``. Printed per size: the input and output tensors' sizes, the peak
resident memory above what the process held before the input existed (model, libraries), and the
bound the README promises (input + output + 1.5 GB). A measurement, not a test: numbers vary by machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

GB = 1024 ** 3


def _rss_now() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def _child(size: int, tile: int, threads: int) -> None:
    import torch

    from stylefusion.models import load_model, transfer

    torch.set_num_threads(threads)
    model = load_model("", device="cpu", precision="fp32")
    style = torch.rand(1, 3, 256, 256)
    transfer(model, torch.rand(1, 3, 64, 64), style)  # warm up kernels and allocator
    base = _rss_now()
    photo = torch.rand(1, 3, size, size)
    out = transfer(model, photo, style, strength=0.8, tile_size=tile)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"size": size, "input": photo.numel() * 4 / GB, "output": out.numel() * 4 / GB,
                      "peak_above_base": (peak - base) / GB}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[4000, 8000])
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.tile, args.threads)
        return
    for size in args.sizes:
        run = subprocess.run([sys.executable, __file__, "--child", str(size), "--tile", str(args.tile),
                              "--threads", str(args.threads)],
                             capture_output=True, text=True)
        if run.returncode:
            print(f"{size}: failed: {run.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        bound = r["input"] + r["output"] + 1.5
        print(f"{size}x{size}: input {r['input']:.2f} GB, output {r['output']:.2f} GB, peak above base "
              f"{r['peak_above_base']:.2f} GB, bound {bound:.2f} GB -> {'within' if r['peak_above_base'] <= bound else 'OVER'}")


if __name__ == "__main__":
    main()
