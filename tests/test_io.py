"""astrograd.io: HDF5 paths that are directories give one-line errors naming them."""

import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.io import read_h5, write_h5


def test_round_trip_and_directories_are_refused(tmp_path):
    path = write_h5(tmp_path / "sub" / "a.h5", {"x": np.arange(3.0), "g": {"y": np.ones(2), "attrs": {"k": 2}}},
                    {"time": 0.5})
    data, attrs = read_h5(path, required=("x",))
    np.testing.assert_array_equal(data["x"], np.arange(3.0))
    assert attrs["time"] == 0.5
    with pytest.raises(InputError, match="lacks dataset"):
        read_h5(path, required=("rho",))
    # before: "file ... does not exist" for a directory that exists, and h5py's IsADirectoryError
    with pytest.raises(InputError, match=f"^'{tmp_path}' is a directory; give an HDF5 file$"):
        read_h5(tmp_path)
    with pytest.raises(InputError, match=f"^cannot write '{tmp_path}': it is a directory"):
        write_h5(tmp_path, {"x": np.ones(2)})
