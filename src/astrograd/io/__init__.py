"""HDF5 helpers (h5py) shared by the snapshot writers of each simulator."""

from astrograd.io._hdf5 import read_h5, write_h5

__all__ = ["read_h5", "write_h5"]
