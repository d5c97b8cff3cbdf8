"""Train the small models shipped in src/astrograd/learn/weights for `astrograd tour`.

usage: python examples/learn_tour_weights.py [WORKDIR] [sol|control]
Generates the tour's tiny Kármán data in WORKDIR (default /tmp/learn-tour) and trains the
supervised and in-the-loop correctors and the control networks with the settings in
astrograd/learn/tour.py (only one of the two groups when it is named); prints the training
summaries as JSON.
"""

import json
import sys
from pathlib import Path

from astrograd._cli_util import to_jsonable
from astrograd.learn.tour import make_tour_weights

if __name__ == "__main__":
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/learn-tour")
    only = (sys.argv[2],) if len(sys.argv) > 2 else ("sol", "control")
    print(json.dumps(to_jsonable(make_tour_weights(work, progress=True, only=only))))
