"""astrograd.io: paths that are directories and metadata that is not JSON give one-line errors."""

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
    with pytest.raises(InputError, match=f"^file '{tmp_path}' is a directory; give an HDF5 file$"):
        read_h5(tmp_path)
    with pytest.raises(InputError, match=f"^cannot write '{tmp_path}': it is a directory"):
        write_h5(tmp_path, {"x": np.ones(2)})


def test_npz_files_name_directories_and_metadata_that_is_not_json(tmp_path):
    from astrograd.io import atomic_savez, load_npz

    atomic_savez(tmp_path / "ok.npz", {"step": 3}, {"x": np.arange(2.0)})
    meta, arrays = load_npz(tmp_path / "ok.npz", "checkpoint")
    assert meta == {"step": 3} and arrays["x"].tolist() == [0.0, 1.0]
    # before: IsADirectoryError from os.replace (leaving the temporary file), "does not exist",
    # and json's TypeError after the temporary file was opened
    with pytest.raises(InputError, match=f"^cannot write '{tmp_path}': it is a directory"):
        atomic_savez(tmp_path, {}, {"x": np.ones(2)})
    with pytest.raises(InputError, match=f"^checkpoint '{tmp_path}' is a directory; give a .npz file$"):
        load_npz(tmp_path, "checkpoint")
    with pytest.raises(InputError, match="its metadata is not JSON"):
        atomic_savez(tmp_path / "bad.npz", {"x": object()}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npz"]  # no temporary file left


def test_an_output_below_a_file_is_refused_before_writing(tmp_path):
    """Before: atomic_savez raised FileExistsError/NotADirectoryError from mkdir (a traceback in
    the CLI, e.g. `learn sol-train --out FILE/x.npz`), write_h5 likewise."""
    from astrograd.io import atomic_savez
    from astrograd.io._paths import file_to_write

    (tmp_path / "plain").write_text("a file")
    plain = tmp_path / "plain"
    for target in (plain / "x.npz", plain / "deeper" / "x.npz"):
        with pytest.raises(InputError, match=f"^cannot write '{target}': '{plain}' is a file, not a folder$"):
            file_to_write(target, "x.npz")
    with pytest.raises(InputError, match="is a file, not a folder"):
        atomic_savez(tmp_path / "plain" / "x.npz", {}, {"x": np.ones(2)})
    with pytest.raises(InputError, match="is a file, not a folder"):
        write_h5(tmp_path / "plain" / "a.h5", {"x": np.ones(2)})
    assert file_to_write(tmp_path / "new" / "deeper" / "x.npz", "x.npz") == tmp_path / "new" / "deeper" / "x.npz"


def test_an_os_error_in_a_command_is_one_line_exit_2(tmp_path, capsys):
    """Any write below a file that no check caught (a figure, say) ends a command with one line."""
    from astrograd._cli_util import handle_errors
    from astrograd._plotting import pyplot, save_figure

    (tmp_path / "plain").write_text("a file")

    @handle_errors
    def command():
        save_figure(pyplot().figure(), tmp_path / "plain" / "fig.png")

    with pytest.raises(SystemExit) as exit_info:
        command()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: cannot use ") and err.count("\n") == 1, err


def test_a_truncated_or_foreign_npz_is_a_one_line_error(tmp_path):
    from astrograd.io import atomic_savez, load_npz

    good = tmp_path / "c.npz"
    atomic_savez(good, {"step": 3}, {"x": np.ones(1000)})
    data = good.read_bytes()
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(data[: len(data) // 2])  # e.g. a copy that did not finish
    with pytest.raises(InputError, match=r"^checkpoint '.*t\.npz' cannot be read \("):  # was zipfile.BadZipFile
        load_npz(truncated, "checkpoint")
    listed = tmp_path / "l.npz"
    np.savez(listed, __meta__=np.array("[1, 2]"))  # callers read meta["step"]: was an AttributeError/TypeError
    with pytest.raises(InputError, match="its header is not a JSON object"):
        load_npz(listed, "checkpoint")
    assert load_npz(good, "checkpoint")[0] == {"step": 3}


def test_a_failed_checkpoint_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from astrograd.io import atomic_savez, load_npz

    path = tmp_path / "c.npz"
    atomic_savez(path, {"step": 1}, {"x": np.zeros(3)})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_savez(path, {"step": 2}, {"x": np.ones(3)})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # the temporary file was left behind
    assert load_npz(path, "checkpoint")[0] == {"step": 1}


def test_a_failed_h5_write_leaves_the_old_file_and_no_temporary(tmp_path):
    """write_h5 over an existing file that fails part-way (a value HDF5 cannot store, after a
    dataset was written) keeps the previous file whole: before, the old file was truncated at
    once and a half-written one (its first dataset only) was left in its place."""
    from astrograd._errors import InputError

    path = write_h5(tmp_path / "a.h5", {"x": np.arange(3.0)}, {"t": 1.0})
    with pytest.raises(InputError, match="'/z'"):
        write_h5(path, {"y": np.ones(2), "z": np.array([{"a": 1}], dtype=object)})
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]
    data, attrs = read_h5(path)
    assert list(data) == ["x"] and np.array_equal(data["x"], np.arange(3.0)) and attrs == {"t": 1.0}


@pytest.mark.parametrize("name", ["allow_pickle", "file", "__meta__"])
def test_npz_array_names_that_np_savez_takes_as_arguments_are_refused(tmp_path, name):
    """An array named "allow_pickle" was taken by np.savez as its flag and silently not written
    (the checkpoint read back without it); "file" and "__meta__" were TypeError tracebacks."""
    from astrograd._errors import InputError
    from astrograd.io import atomic_savez

    path = tmp_path / "c.npz"
    with pytest.raises(InputError, match=f"the array name '{name}' is not allowed"):
        atomic_savez(path, {"step": 1}, {name: np.ones(2)})
    assert list(tmp_path.iterdir()) == []


def test_npz_object_arrays_are_refused_before_writing(tmp_path):
    """An object array was pickled into the file, which load_npz (allow_pickle=False) then could
    not read: a checkpoint written but never resumable."""
    from astrograd._errors import InputError
    from astrograd.io import atomic_savez, load_npz

    path = tmp_path / "c.npz"
    atomic_savez(path, {"step": 1}, {"x": np.zeros(3)})
    with pytest.raises(InputError, match="array 'w' holds Python objects"):
        atomic_savez(path, {"step": 2}, {"w": np.array([{"a": 1}, None], dtype=object)})
    assert load_npz(path, "checkpoint")[0] == {"step": 1}


def test_a_fingerprint_with_nan_or_infinity_resumes_its_own_checkpoint(tmp_path):
    """A NaN in a fingerprint (an unset option, say) never compared equal to itself after the
    round trip through the header, so the checkpoint was refused as "a different fit" forever."""
    import jax.numpy as jnp

    from astrograd.inverse import fit
    from astrograd.io._npz import as_stored, differing_keys

    stamp = {"a": float("nan"), "b": [1.0, float("inf"), float("-inf")], "c": {"d": np.float32("nan")}}
    assert differing_keys(as_stored(stamp), as_stored(stamp)) == []
    assert differing_keys(as_stored(stamp), as_stored({**stamp, "a": 1.0})) == ["a"]
    ckpt = tmp_path / "fit.npz"
    kw = dict(optimizer="sgd", learning_rate=0.1, checkpoint=ckpt, fingerprint=stamp, progress=False)
    fit(lambda p: jnp.sum(p**2), jnp.ones(2), steps=2, **kw)
    assert fit(lambda p: jnp.sum(p**2), jnp.ones(2), steps=4, **kw).resumed_from == 2


@pytest.mark.parametrize(
    ("datasets", "attrs", "where", "what"),
    [
        ({"z": np.array([{"a": 1}], dtype=object)}, None, "dataset '/z'", "dtype object"),
        ({"g": {"w": [1.0, [2.0, 3.0]]}}, None, "dataset '/g/w'", "type list"),
        ({"x": np.ones(2)}, {"t": None}, "attribute '/t'", "type NoneType"),
    ],
)
def test_h5_values_hdf5_cannot_store_are_one_line_input_errors(tmp_path, datasets, attrs, where, what):
    """An object array, a ragged list or None was h5py's raw TypeError (or numpy's ValueError)."""
    from astrograd._errors import InputError

    with pytest.raises(InputError, match=rf"cannot write the HDF5 {where} \({what}\): it must be numbers") as err:
        write_h5(tmp_path / "a.h5", datasets, attrs)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_h5_errors_that_are_not_about_the_value_are_not_blamed_on_it(tmp_path):
    """A name taken twice ('x' and then 'x/y') is h5py's own error, not 'it must be numbers'
    (the value 2.0 is fine): only the value's conversion is reported as a bad value."""
    from astrograd._errors import InputError

    with pytest.raises(Exception) as err:
        write_h5(tmp_path / "a.h5", {"x": 1.0, "x/y": 2.0})
    assert not isinstance(err.value, InputError) or "must be numbers" not in str(err.value), err.value
    assert not (tmp_path / "a.h5").exists()


def test_a_npy_file_given_as_a_checkpoint_is_a_one_line_error(tmp_path):
    """np.load reads a .npy file as one array, and ``with`` on it was a TypeError traceback
    ("'numpy.ndarray' object does not support the context manager protocol")."""
    from astrograd.io import load_npz

    path = tmp_path / "c.npz"
    with open(path, "wb") as f:
        np.save(f, np.ones(3))  # e.g. np.save to a name ending in .npz
    with pytest.raises(InputError, match=r"^checkpoint '.*c\.npz' cannot be read \(it holds a single \.npy array"):
        load_npz(path, "checkpoint")


@pytest.mark.parametrize("content", [b"hello\n", b""])
def test_a_file_that_is_no_npz_is_named_without_numpys_pickle_advice(tmp_path, content):
    """np.load takes any file that is neither zip nor .npy for a pickle: its message advised
    loading it "unsafely using the allow_pickle= keyword", which no command offers."""
    from astrograd.io import load_npz

    path = tmp_path / "c.npz"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"^checkpoint '.*c\.npz' cannot be read \(it is not an \.npz archive\)$"):
        load_npz(path, "checkpoint")


def test_a_group_entry_named_attrs_that_is_not_a_mapping_is_a_dataset(tmp_path):
    """``{"g": {"attrs": array}}``: "attrs" is a group's attributes only when it is a mapping;
    an array of that name was dropped without a word (the file lacked it)."""
    import h5py

    path = write_h5(tmp_path / "a.h5", {"g": {"attrs": np.arange(2.0), "x": np.ones(1)},
                                        "h": {"x": np.zeros(1), "attrs": {"t": 1.5}},
                                        "k": {"x": np.zeros(1), "attrs": None}})
    with h5py.File(path, "r") as f:
        assert sorted(f["g"]) == ["attrs", "x"] and dict(f["g"].attrs) == {}
        np.testing.assert_array_equal(f["g/attrs"][()], np.arange(2.0))
        assert list(f["h"]) == ["x"] and dict(f["h"].attrs) == {"t": 1.5}
        assert list(f["k"]) == ["x"] and dict(f["k"].attrs) == {}


def test_h5_a_text_dataset_is_refused_without_offering_one_string(tmp_path):
    """Only an attribute may be one string; the message for a text dataset offered "one string"
    too, which a dataset cannot be (read_h5 would give it back as bytes)."""

    with pytest.raises(InputError, match=r"dataset '/s' \(type str\): it must be numbers or booleans, in a "):
        write_h5(tmp_path / "a.h5", {"s": "hello"})
    with pytest.raises(InputError, match=r"attribute '/t' \(type NoneType\): it must be numbers, booleans or one "):
        write_h5(tmp_path / "b.h5", {"x": np.ones(2)}, {"t": None})
    write_h5(tmp_path / "c.h5", {"x": np.ones(2)}, {"t": "one string"})
    assert read_h5(tmp_path / "c.h5")[1] == {"t": "one string"}
