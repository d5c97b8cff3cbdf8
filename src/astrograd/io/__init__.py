"""File helpers shared by the packages: HDF5 (h5py) for snapshots, atomic npz for checkpoints."""

from astrograd.io._hdf5 import read_h5, write_h5
from astrograd.io._npz import atomic_savez, load_npz

__all__ = ["atomic_savez", "load_npz", "read_h5", "write_h5"]
