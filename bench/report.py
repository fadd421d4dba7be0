"""The report of ``stylefusion bench``: ratios of the measured times, the targets, the machine, the table."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from . import MALLOC_TUNING
from .peer import NAME as PEER_NAME

SCHEMA_VERSION = 1

# Targets of issue 6, checked from the measured ratios (never by timed tests).
TARGETS = {
    "peer_ratio_1024": 1.0,  # StyleFusion time / peer time at 1024², at most
    "peer_ratio_512": 0.5,
    "adain_speedup_512": 20.0,  # AdaIN time / StyleFusion time at 512², at least
    "conv_peak_fraction": 0.40,  # generator GFLOP/s / conv GFLOP/s, at least
    "hires_peak_rss_mb": 3072.0,  # 4096² tiled output, at most
}


def ratios(entry: dict[str, Any]) -> dict[str, float | None]:
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


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info(threads: int) -> dict[str, Any]:
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
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_average_start": load_average()}


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
