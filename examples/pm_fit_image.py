"""Initial conditions that draw an image (pmwd's example), end to end.

    .venv/bin/python examples/pm_fit_image.py                       # "pmwd", 1 view, 100 iterations
    .venv/bin/python examples/pm_fit_image.py --iterations 3000     # pmwd's long run (resumable)
    .venv/bin/python examples/pm_fit_image.py --views 2 --lr 0.02 --iterations 300
    .venv/bin/python examples/pm_fit_image.py --image my_logo.png

Writes target/initial/final projections, the loss curve, an animated GIF, the optimised initial
conditions (ics.h5) and losses.txt to --out; prints the JSON summary.
"""

import argparse
import json
from pathlib import Path

from astrograd.pm._image import fit_image_to_dir

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--text", default="pmwd")
    p.add_argument("--image", type=Path, default=None)
    p.add_argument("--views", type=int, default=1)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--out", type=Path, default=Path("outputs/pm_fit_image"))
    args = p.parse_args()
    lr = args.lr if args.lr is not None else (0.1 if args.views == 1 else 0.02)
    summary = fit_image_to_dir(args.out, text=args.text, image=args.image, views=args.views,
                               iterations=args.iterations, learning_rate=lr, checkpoint=True)
    print(json.dumps({k: v for k, v in summary.items()}, default=float))
