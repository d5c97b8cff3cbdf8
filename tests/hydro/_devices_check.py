"""Run by test_hydro_wind.py in a fresh process with 2 host (CPU) devices: the wind loss map
split over the devices against one device. Prints one JSON line."""

import json
import os

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

from astrograd.hydro import wind_problem  # noqa: E402
from astrograd.hydro._wind import wind_loss_map  # noqa: E402


def main():
    pr = wind_problem(16)
    v, m = np.linspace(200.0, 4000.0, 3), np.linspace(15.0, 70.0, 3)
    one = wind_loss_map(pr, v, m, progress=False)
    # batch 5 is rounded up to 6 (a multiple of 2); the last chunk is padded
    split = wind_loss_map(pr, v, m, batch=5, devices=2, progress=False)
    print(json.dumps({"num_devices": len(jax.devices()), "max_abs_diff": float(np.abs(split - one).max()),
                      "min_loss": float(one.min()), "max_loss": float(one.max())}))


if __name__ == "__main__":
    main()
