"""The measurements of ``stylefusion bench`` and how they run (see the package docstring for why so).

``run_bench`` runs every job the arguments ask for and assembles the report. A job (model info, conv
probe, timing, peak RSS, batch throughput, tiled high resolution) runs in this process or alone in a
fresh spawned child; each times methods built below (StyleFusion, its E_c + G alone, the peer, AdaIN,
the conv probe), every one of them returning (function to call, facts about it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import torch

from ..models import StyleFusionConfig, StyleFusionModel, encode_style, transfer
from ..networks.cost import model_macs
from ..networks.errors import ModelNotFoundError
from ..networks.generator import make_noise
from ..storage import loading as sources
from . import MALLOC_TUNING, peer
from .adain import ADAIN_NOTE, adain_method
from .peer import PeerUnavailable
from .peer import status as peer_status
from .report import SCHEMA_VERSION, check_targets, load_average, machine_info, ratios
from .threads import choose_threads

STYLE_SIZE = 256  # side of the style image given to every method


# -- orchestration --------------------------------------------------------------------------------
def run_bench(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every measurement ``args`` asks for; return the report (the JSON document)."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    threading = choose_threads(args.threads)
    threads = threading["threads"]
    if threading["mode"] == "auto":
        log(f"[bench] threads: {threads} ({threading['reason']})")
    isolate = not args.in_process
    common = {"threads": threads, "runs": args.runs, "warmup": args.warmup, "model": args.model,
              "env": MALLOC_TUNING if args.malloc_tuned else {}}
    peer_available, peer_reason = peer_status()
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "machine": machine_info(threads),
        "settings": {k: v for k, v in vars(args).items() if k not in ("command",)},
        "notes": [peer.NOTE, ADAIN_NOTE],
    }
    report["settings"]["threads"] = threads
    report["settings"]["threading"] = threading
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
        job = {**common, "size": size, "batch": args.batch, "conv_size": args.conv_size,
               "peer": not args.no_peer and peer_available,
               "adain": not args.no_adain and size <= args.adain_max_size,
               "adain_runs": min(args.runs, args.adain_runs)}
        names = ", ".join(["StyleFusion"] + [peer.NAME] * job["peer"] + ["AdaIN reference"] * job["adain"])
        log(f"[bench] {size}x{size}: timing {names} interleaved ...")
        timing = run_job({"kind": "timing", **job}, isolate)
        log(f"[bench] {size}x{size}: peak memory of each method ...")
        entry["stylefusion"] = {**timing["stylefusion"], **_rss(run_job({"kind": "rss", "method": "stylefusion", **job}, isolate))}
        if job["peer"] and timing["peer"].get("available"):
            entry["peer"] = {**timing["peer"], **_rss(run_job({"kind": "rss", "method": "peer", **job}, isolate))}
        elif job["peer"]:
            entry["peer"] = timing["peer"]  # found but failed to import: the reason says why
        else:
            entry["peer"] = {"available": False, "reason": "skipped (--no-peer)" if args.no_peer else peer_reason}
        if job["adain"]:
            entry["adain"] = {**timing["adain"], **_rss(run_job({"kind": "rss", "method": "adain", **job}, isolate))}
        else:
            entry["adain"] = {"available": False, "reason": "skipped (--no-adain)" if args.no_adain
                              else f"skipped above --adain-max-size {args.adain_max_size}"}
        entry["conv"] = timing["conv"]
        entry["ratios"] = ratios(entry)
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
    report["machine"]["load_average_end"] = load_average()
    report["targets"] = check_targets(report)
    return report


def run_job(job: dict[str, Any], isolate: bool) -> dict[str, Any]:
    """Run one measurement, in a fresh spawned child process when ``isolate`` (its own peak RSS)."""
    if not isolate:
        result = JOBS[job["kind"]](job)
        result["rss_isolated"] = False
        return result
    env = job.get("env") or {}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the spawned child starts with it (malloc reads it at start-up)
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result = pool.submit(_child, job).result()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    result["rss_isolated"] = True
    return result


def _child(job: dict[str, Any]) -> dict[str, Any]:
    return JOBS[job["kind"]](job)


# -- inputs, models, statistics ---------------------------------------------------------------------
def load_bench_model(source: str):
    """The model to measure: ``source`` (default: the bundled model), or — when no bundled model is
    installed yet — a randomly initialised default-config model, with a note saying so."""
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


def interleaved(fns: dict[str, Callable[[], Any]], runs: int, warmup: int,
                limits: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Time several functions round-robin (A, B, C, A, B, C, …) after ``warmup`` calls of each.

    ``limits`` caps the timed runs of slow functions (they take part in the first rounds only).
    """
    limits = limits or {}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(runs):
        for name, fn in fns.items():
            if round_ >= limits.get(name, runs):
                continue
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: summarize(t) for name, t in times.items()}


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


def _rss(result: dict[str, Any]) -> dict[str, Any]:
    return {"peak_rss_mb": result["peak_rss_mb"], "rss_before_inputs_mb": result["rss_before_inputs_mb"],
            "rss_isolated": result["rss_isolated"]}


# -- what is measured: each builder returns (function to call, facts about it) ---------------------
def _conv_probe(size: int, layout: str = "channels_last"):
    """A large 3x3 conv (256 → 256 channels, ``size``²): the machine's practical conv throughput."""
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 256, size, size, generator=gen).contiguous(memory_format=fmt)
    weight = (torch.randn(256, 256, 3, 3, generator=gen) * 0.02).contiguous(memory_format=fmt)
    bias = torch.zeros(256)

    def run():
        with torch.no_grad():
            return torch.nn.functional.conv2d(x, weight, bias, 1, 1)

    return run, {"shape": f"[1,256,{size},{size}] * [256,256,3,3]", "layout": layout,
                 "gflop_per_call": 2 * 256 * 256 * 9 * size * size / 1e9}


def _stylefusion_method(job: dict[str, Any], content, style):
    model, info = load_bench_model(job["model"])
    result = transfer(model, content, style)
    assert result.shape == content.shape, f"StyleFusion returned {tuple(result.shape)}"
    return (lambda: transfer(model, content, style)), {"model": info["name"], "random_weights": info["random_weights"],
                                                        "output_size": list(result.shape[-2:])}, model


def _generator_method(model, content, style):
    """E_c + G alone (no input checks, no style encoding): the arithmetic the FLOPs count."""
    style_vector = encode_style(model, style).tensor
    noise = make_noise(0, content.shape[-2], content.shape[-1], model.generator.noise_strides)

    def run():
        with torch.no_grad():
            return model.generator(model.feature_extractor(content, fused=True), style_vector, noise, fused=True)

    macs = model_macs(model, content.shape[-2], content.shape[-1])
    gflop = 2 * (macs["feature_extractor"] + macs["generator"]) * content.shape[0] / 1e9
    return run, {"gflop": gflop, "gflop_per_image": {k: 2 * v / 1e9 for k, v in macs.items()}}


def _peer_method(job: dict[str, Any], content, style):
    photos = [peer.to_pil(c) for c in content]  # the same pictures, as the PIL images its API takes
    style_pil = peer.to_pil(style[0])
    engine = peer.engine(job["threads"])

    def run():  # no batch API: one call per image
        return [engine.stylize_with(photo, style_pil) for photo in photos]

    peer.check_size(run()[0], content)
    return run, {**peer.facts(), "output_size": list(content.shape[-2:])}


# -- jobs (each may run in a spawned child process) ------------------------------------------------
def _setup(job: dict[str, Any]) -> None:
    torch.set_num_threads(int(job["threads"]))


def _job_model_info(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    _, info = load_bench_model(job["model"])
    return info


def _job_conv(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    probes = {layout: _conv_probe(job["size"], layout) for layout in ("channels_last", "nchw")}
    stats = interleaved({k: fn for k, (fn, _) in probes.items()}, job["runs"], max(1, job["warmup"]))
    gflop = probes["nchw"][1]["gflop_per_call"]
    out: dict[str, Any] = {"shape": probes["nchw"][1]["shape"], "gflop_per_call": gflop}
    for layout, st in stats.items():
        out[layout] = {**st, "gflops_median": gflop / (st["median_ms"] / 1e3), "gflops_best": gflop / (st["min_ms"] / 1e3)}
    best = max(stats, key=lambda k: out[k]["gflops_median"])
    out.update(layout=best, gflops_median=out[best]["gflops_median"],
               gflops_best=max(out[k]["gflops_best"] for k in stats), peak_rss_mb=peak_rss_mb())
    return out


def _job_timing(job: dict[str, Any]) -> dict[str, Any]:
    """Every method at one size, timed round-robin in this one process."""
    _setup(job)
    content, style = _pictures(job["size"], job["batch"])
    fns: dict[str, Callable[[], Any]] = {}
    facts: dict[str, dict[str, Any]] = {}
    fns["stylefusion"], facts["stylefusion"], model = _stylefusion_method(job, content, style)
    fns["generator"], facts["generator"] = _generator_method(model, content, style)
    if job["peer"]:
        try:
            fns["peer"], facts["peer"] = _peer_method(job, content, style)
        except PeerUnavailable as exc:
            facts["peer"] = {"available": False, "reason": str(exc)}
    if job["adain"]:
        fns["adain"], facts["adain"] = adain_method(content, style)
    fns["conv"], facts["conv"] = _conv_probe(job["conv_size"])
    stats = interleaved(fns, job["runs"], job["warmup"], limits={"adain": job["adain_runs"]})

    out: dict[str, Any] = {}
    sf = out["stylefusion"] = {**stats["stylefusion"], **facts["stylefusion"]}
    gen = sf["generator"] = {**stats["generator"], **facts["generator"]}
    gen["gflops"] = gen["gflop"] / (gen["median_ms"] / 1e3)
    gen["gflops_best"] = gen["gflop"] / (gen["min_ms"] / 1e3)
    out["peer"] = {**stats["peer"], **facts["peer"]} if "peer" in stats else facts.get("peer")
    out["adain"] = {**stats["adain"], **facts["adain"]} if "adain" in stats else None
    conv = out["conv"] = {**stats["conv"], **facts["conv"]}
    conv["gflops_median"] = conv["gflop_per_call"] / (conv["median_ms"] / 1e3)
    return out


def _job_rss(job: dict[str, Any]) -> dict[str, Any]:
    """One method alone in this process (one warm-up, one run): its peak RSS."""
    _setup(job)
    rss_before = peak_rss_mb()
    content, style = _pictures(job["size"], job["batch"])
    method = job["method"]
    if method == "stylefusion":
        fn = _stylefusion_method(job, content, style)[0]
    elif method == "peer":
        fn = _peer_method(job, content, style)[0]
    else:
        fn = adain_method(content, style)[0]
    fn()
    return {"method": method, "rss_before_inputs_mb": rss_before, "peak_rss_mb": peak_rss_mb()}


def _job_throughput(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    model, _ = load_bench_model(job["model"])
    inputs = {batch: _pictures(job["size"], batch) for batch in job["batches"]}
    fns = {str(b): (lambda pair=pair: transfer(model, *pair)) for b, pair in inputs.items()}
    stats = interleaved(fns, job["runs"], max(1, job["warmup"]))
    rows = []
    for batch in job["batches"]:
        st = stats[str(batch)]
        rows.append({**st, "batch": batch, "images_per_s": batch / (st["median_ms"] / 1e3),
                     "ms_per_image": st["median_ms"] / batch})
    return {"size": job["size"], "rows": rows, "peak_rss_mb": peak_rss_mb()}


def _job_hires(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
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
    "model_info": _job_model_info, "conv": _job_conv, "timing": _job_timing, "rss": _job_rss,
    "throughput": _job_throughput, "hires": _job_hires,
}
