"""Train the small models shipped in src/astrograd/learn/weights for `astrograd tour`.

usage: python examples/learn_tour_weights.py [WORKDIR] [GROUP]
Generates the tour's tiny Kármán data in WORKDIR (default /tmp/learn-tour) and trains the
supervised and in-the-loop correctors and the control networks with the settings in
astrograd/learn/tour.py (only one of the two groups when GROUP is sol or control; default
both); prints the training summaries as JSON.
"""

import argparse
import json
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Writes the weights into src/astrograd/learn/weights; prints the training summaries as JSON.",
    )
    parser.add_argument("work", metavar="WORKDIR", type=Path, nargs="?", default=Path("/tmp/learn-tour"),
                        help="folder for the generated training data (default: %(default)s)")
    parser.add_argument("group", metavar="GROUP", nargs="?", choices=("sol", "control", "both"), default="both",
                        help="what to train: sol (the supervised and solver-in-the-loop correctors), control "
                             "(the control networks) or both (default: %(default)s)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()  # before importing JAX, so that --help and bad values answer at once

    from astrograd._cli_util import to_jsonable
    from astrograd.learn.tour import make_tour_weights

    only = ("sol", "control") if args.group == "both" else (args.group,)
    print(json.dumps(to_jsonable(make_tour_weights(args.work, progress=True, only=only))))
