"""Shared test fixtures. float64 is switched on inside tests only, never at import."""

import contextlib
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import pytest


@pytest.fixture
def x64():
    """Run the test with float64 enabled; restores the previous setting afterwards."""
    from astrograd._precision import float64

    with float64():
        yield


@pytest.fixture
def key():
    """An explicit PRNG key (tests are reproducible)."""
    return jax.random.key(0)


@pytest.fixture(scope="session")
def run_json_script():
    """``run_json_script(path)``: see :func:`_run_json_script`."""
    return _run_json_script


def _run_json_script(path, timeout: float = 900.0) -> dict:
    """Run a helper script in a fresh Python process (e.g. one that starts JAX with several host
    devices, a count fixed when JAX starts) and return the JSON object on its last line."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def compilations():
    """A context manager: ``with compilations() as names:`` collects the names of the XLA
    programs compiled inside the block (JAX's compile-event listener)."""
    from jax._src.dispatch import BACKEND_COMPILE_EVENT

    @contextlib.contextmanager
    def collect():
        names = []

        def count(event, duration, **kwargs):
            if event == BACKEND_COMPILE_EVENT:
                names.append(kwargs.get("fun_name"))

        jax.monitoring.register_event_duration_secs_listener(count)
        try:
            yield names
        finally:
            jax.monitoring.unregister_event_duration_listener(count)

    return collect


@pytest.fixture(scope="session")
def check_output_file():
    """``check_output_file(path)``: see :func:`_check_output_file`. For figures, more than
    ``path.exists()`` or a size: a blank figure passes those."""
    return _check_output_file


def _check_output_file(path) -> None:
    """More than "a non-empty file": a PNG or GIF that is a picture with something drawn on it
    (a blank figure passed before), an animated GIF with several frames, an HDF5 file that holds
    finite numbers."""
    import numpy as np

    assert path.stat().st_size > 0, path
    if path.suffix in (".png", ".gif"):
        from PIL import Image, ImageSequence

        with Image.open(path) as image:
            assert image.format == path.suffix[1:].upper(), (path, image.format)
            frames = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(image)]
        assert min(frame.shape[0] for frame in frames) >= 100 and min(frame.shape[1] for frame in frames) >= 100
        assert all(np.ptp(frame) > 0 for frame in frames), f"{path}: a blank frame"
        if path.suffix == ".gif":
            assert len(frames) > 1 and not all(np.array_equal(frames[0], f) for f in frames[1:]), path
    elif path.suffix == ".h5":
        import h5py

        found = []
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: found.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
        numeric = [np.asarray(a) for a in found if np.issubdtype(np.asarray(a).dtype, np.number)]
        assert numeric and all(np.all(np.isfinite(a)) for a in numeric), path


def pytest_sessionfinish(session):
    """On an xdist worker, free the compiled programs before the worker reports that it has
    finished. Freeing them later, while execnet shuts the worker down, could take more than its
    5 s grace period; execnet then sends the worker SIGINT, which landed in JAX's garbage
    collection callback and was printed as a PytestUnraisableExceptionWarning after the run."""
    if hasattr(session.config, "workerinput"):
        import gc

        jax.clear_caches()
        gc.collect()
