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

from _args import int_at_least, out_folder, positive_float  # examples/_args.py


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Writes target/initial/final projections, the loss curve, an animated GIF, the optimised "
               "initial conditions (ics.h5) and losses.txt to --out (resuming from its checkpoint); prints "
               "the JSON summary.",
    )
    parser.add_argument("--text", default="pmwd", help="text to draw (default: %(default)s)")
    parser.add_argument("--image", type=Path, default=None,
                        help="an image file to draw instead of --text (default: none)")
    parser.add_argument("--views", type=int, choices=(1, 2), default=1,
                        help="projections to match: 1 (along z) or 2 (along z and x) (default: %(default)s)")
    parser.add_argument("--iterations", type=int_at_least(1), default=100,
                        help="Adam iterations (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="Adam learning rate (default: 0.1 with one view, 0.02 with two)")
    parser.add_argument("--out", type=out_folder, default=Path("outputs/pm_fit_image"),
                        help="output folder (default: %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help and bad values answer at once

    from astrograd.pm._image import fit_image_to_dir

    lr = args.lr if args.lr is not None else (0.1 if args.views == 1 else 0.02)
    summary = fit_image_to_dir(args.out, text=args.text, image=args.image, views=args.views,
                               iterations=args.iterations, learning_rate=lr, checkpoint=True)
    print(json.dumps({k: v for k, v in summary.items()}, default=float))
