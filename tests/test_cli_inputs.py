"""The command line under hostile input: sizes, binary files, .npy headers,
mixed-up arguments, pandas index columns, closed or broken standard streams."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import emfast._tabular_io
from emfast import GaussianMixture
from emfast._model_io import load_model, save_model
from tests.limits import run_limited
from tests.test_cli import _assert_one_error_line, _blobs, _run, _write_csv


@pytest.fixture
def data(tmp_path, rng):
    X = _blobs(rng, n_samples=80)
    return X, _write_csv(tmp_path / "good.csv", X, header=["a", "b"])


@pytest.fixture
def model_file(tmp_path, data):
    path = tmp_path / "model.json"
    save_model(GaussianMixture(2, random_state=0).fit(data[0]), path)
    return str(path)


def _refused(capsys, tmp_path, *argv, fragment, status=1):
    """Run; expect one error line with ``fragment``, no output, no new file."""
    before = set(os.listdir(tmp_path))
    code, out, err = _run(capsys, *argv)
    assert code == status
    _assert_one_error_line(err, fragment)
    assert out == ""
    assert set(os.listdir(tmp_path)) == before
    return err


# ------------------------------------------------------- defect 1: huge K
def test_huge_k_range_fails_fast_under_a_memory_limit(tmp_path, data):
    # the reproducer: the old parser built a list of 10^9 ints (~36 GB)
    child = run_limited(
        ["-m", "emfast", "fit", data[1], "-k", "1:1000000000", "-o", "m.json"],
        cwd=tmp_path,
    )
    assert child.returncode == 1, child.stderr
    _assert_one_error_line(
        child.stderr, "n_components must be <= n_samples = 80, got 1000000000"
    )
    assert child.stdout == ""
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("1:1000000000000000000000", "got 1000000000000000000000"),
        ("5:1000000000:7", "got 999999999"),  # 5 + 7 * 142857142
        ("1,2,81", "got 81"),
    ],
)
def test_k_larger_than_the_rows(tmp_path, data, capsys, spec, fragment):
    _refused(capsys, tmp_path, "fit", data[1], "-k", spec, "-o", tmp_path / "m.json",
             fragment=fragment)  # fmt: skip


def test_k_with_too_many_digits_is_a_usage_error(data, capsys):
    code, _, err = _run(capsys, "fit", data[1], "-k", "1:" + "9" * 5000)
    assert code == 2
    _assert_one_error_line(err, "--n-components")


# ------------------------------------------- defect 6: stdout and the model
def _emfast(*argv):
    return [sys.executable, "-m", "emfast", *map(str, argv)]


def _env(**extra):
    return dict(
        os.environ,
        PYTHONPATH=str(Path(emfast._tabular_io.__file__).parent.parent),
        **extra,
    )


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_fit_into_a_closed_pipe_still_writes_the_model(tmp_path, data, unbuffered):
    # `emfast fit ... -o m.json | head -1`: the reader goes away at once
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = subprocess.run(
            _emfast("fit", data[1], "-k", "1:3", "-o", "m.json"),
            cwd=tmp_path, env=_env(PYTHONUNBUFFERED=unbuffered), stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=180,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert child.returncode == 1  # Python's convention for EPIPE
    assert "Traceback" not in child.stderr and "Exception" not in child.stderr
    model = load_model(tmp_path / "m.json")
    assert model.n_components in (1, 2, 3)
    assert_array_equal(model.predict(data[0]), model.predict(data[0]))


def test_fit_piped_into_head(tmp_path, data):
    child = subprocess.run(
        " ".join(_emfast("fit", data[1], "-k", "1:3", "-o", "m.json"))
        + " | head -1; echo status=${PIPESTATUS[0]}",
        shell=True, executable="/bin/bash", cwd=tmp_path,
        env=_env(PYTHONUNBUFFERED="1"), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    lines = child.stdout.splitlines()
    assert lines[0] == f"{data[1]}: 80 rows x 2 columns (a, b)"
    assert lines[-1] in ("status=0", "status=1")  # 0 if the output fit in the pipe
    assert "Traceback" not in child.stderr and "Exception" not in child.stderr
    assert load_model(tmp_path / "m.json").n_features_in_ == 2


def test_predict_into_a_closed_pipe_is_quiet(tmp_path, data, model_file):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = subprocess.run(
            _emfast("predict", model_file, data[1], "--proba"), cwd=tmp_path,
            env=_env(), stdout=write_end, stderr=subprocess.PIPE, text=True,
            timeout=180,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert child.returncode == 1 and child.stderr == ""


def test_stdout_full_or_closed(tmp_path, data, model_file):
    with open("/dev/full", "w") as full:
        child = subprocess.run(
            _emfast("predict", model_file, data[1]), cwd=tmp_path, env=_env(),
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=180,
        )  # fmt: skip
    assert child.returncode == 1
    _assert_one_error_line(child.stderr, "cannot write to standard output")
    closed = subprocess.run(
        " ".join(_emfast("predict", model_file, data[1])) + " >&-",
        shell=True, cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert closed.returncode == 1
    _assert_one_error_line(closed.stderr, "standard output: it is closed")
    # fit's output is a report: with stdout closed the model is still written
    fit = subprocess.run(
        " ".join(_emfast("fit", data[1], "-k", "2", "-o", "m.json")) + " >&-",
        shell=True, cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert load_model(tmp_path / "m.json").n_components == 2


def test_help_into_a_closed_pipe(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = subprocess.run(
            _emfast("fit", "--help"), cwd=tmp_path, env=_env(PYTHONUNBUFFERED="1"),
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=180,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert child.returncode == 0  # argparse ignores a failed write of the help
    assert child.stderr == ""


# ------------------------------------------- defect 13: bounded reading
def test_dev_zero_is_refused_at_once(tmp_path):
    child = run_limited(["-m", "emfast", "fit", "/dev/zero", "-k", "1"], cwd=tmp_path)
    assert child.returncode == 1
    _assert_one_error_line(child.stderr, "/dev/zero holds NUL bytes")


def test_stdin_from_dev_zero_is_refused(tmp_path):
    with open("/dev/zero", "rb") as zero:
        child = run_limited(["-m", "emfast", "fit", "-"], cwd=tmp_path, stdin=zero)
    assert child.returncode == 1
    _assert_one_error_line(child.stderr, "<stdin> holds NUL bytes")


def test_endless_line_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(emfast._tabular_io, "MAX_LINE_CHARS", 1000)
    monkeypatch.setattr(emfast._tabular_io, "_CHUNK", 64)
    path = tmp_path / "long.csv"
    path.write_text("a,b\n1,2\n" + "1," * 600 + "\n3,4\n")
    _refused(
        capsys, tmp_path, "fit", path, fragment="long.csv, line 3: longer than 1000"
    )
    path.write_text("1,2\n3,4\n" + "5" * 5000)  # no line end at all
    _refused(capsys, tmp_path, "fit", path, fragment="line 3: longer than 1000")
    path.write_text("a,b\n" + "1.5,2.5\n" * 500)  # many short lines are fine
    code, out, err = _run(capsys, "fit", path, "-k", "1")
    assert code == 0 and "500 rows x 2 columns" in out, err


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"1,2\n3,\x004\n", "holds NUL bytes"),
        (b"1,2\n\xc3\x28,4\n", "UTF-8"),
        ("a,b\n1,2\n".encode("utf-16"), "UTF-16 text"),
        (b'{"format": "emfast-model"}', "is a JSON file (an emfast model?)"),
        (b"PK\x03\x04\x14\x00\x00\x00", "holds NUL bytes"),  # a .npz / zip
    ],
)
def test_binary_and_foreign_text(tmp_path, capsys, content, fragment):
    (tmp_path / "x.csv").write_bytes(content)
    _refused(capsys, tmp_path, "fit", tmp_path / "x.csv", fragment=fragment)


# ------------------------------------------------ defect 13: .npy headers
def _npy(path, header, body=b"", version=(1, 0)):
    """A .npy file with a hand-written header (padded like numpy's)."""
    length_bytes = 2 if version == (1, 0) else 4
    pad = (64 - (6 + 2 + length_bytes + len(header) + 1) % 64) % 64
    text = header + b" " * pad + b"\n"
    path.write_bytes(
        b"\x93NUMPY" + bytes(version) + len(text).to_bytes(length_bytes, "little")
        + text + body
    )  # fmt: skip
    return path


NPY_HEADERS = {
    # header text, body, expected fragment
    "token error": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), } '''",
        b"\0" * 32,
        "not a valid .npy file (header: EOF in multi-line string)",
    ),
    "code": (b"__import__('os').system('true')", b"", "not a valid .npy file"),
    "extra key": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), 'x': 1}",
        b"\0" * 32,
        "not a valid .npy file",
    ),
    "huge shape": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (10**12, 10), }",
        b"\0" * 32,
        "not a valid .npy file",
    ),
    "terabytes": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 10), }",
        b"\0" * 32,
        "(80000000000000 bytes) but 32 bytes follow",
    ),
    "negative": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 2), }",
        b"\0" * 32,
        "invalid shape (-1, 2)",
    ),
    "short": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (100, 2), }",
        b"\0" * 32,
        "(1600 bytes) but 32 bytes follow",
    ),
    "long": (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
        b"\0" * 40,
        "(32 bytes) but 40 bytes follow",
    ),
    "object": (
        b"{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }",
        b"",
        "holds Python objects",
    ),
    "structured": (
        b"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 2), }",
        b"\0" * 32,
        "non-numeric values",
    ),
    "sub-array": (
        b"{'descr': ('<f8', (3,)), 'fortran_order': False, 'shape': (2, 2), }",
        b"\0" * 96,
        "non-numeric values",
    ),
    "complex": (
        b"{'descr': '<c16', 'fortran_order': False, 'shape': (2, 1), }",
        b"\0" * 32,
        "non-numeric values (dtype complex128)",
    ),
}


@pytest.mark.parametrize("case", list(NPY_HEADERS))
def test_crafted_npy_headers(tmp_path, capsys, case):
    header, body, fragment = NPY_HEADERS[case]
    path = _npy(tmp_path / "x.npy", header, body)
    err = _refused(capsys, tmp_path, "fit", path, "-o", tmp_path / "m.json",
                   fragment=fragment)  # fmt: skip
    assert "unexpected" not in err


def test_npy_from_files_and_stdin_match_numpy(tmp_path, rng, capsys, monkeypatch):
    X = _blobs(rng, n_samples=40)
    cases = {
        "c.npy": X,
        "f.npy": np.asfortranarray(X),
        "big_endian.npy": X.astype(">f8"),
        "float32_be.npy": X.astype(">f4"),
        "ints.npy": np.rint(X * 100).astype(np.int16),
    }
    for name, array in cases.items():
        np.save(tmp_path / name, array)
        status, out, err = _run(capsys, "fit", tmp_path / name, "-k", "2", "-o",
                                tmp_path / f"{name}.json")  # fmt: skip
        assert status == 0, (name, err)
        expected = GaussianMixture(2, random_state=0).fit(
            array.astype(np.float32 if array.dtype.itemsize == 4 else np.float64)
        )
        model = load_model(tmp_path / f"{name}.json")
        assert model.means_.dtype == expected.means_.dtype, name
        assert_array_equal(model.means_, expected.means_)
    # the same bytes through standard input (not seekable, read in pieces)
    raw = (tmp_path / "c.npy").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    status, out, err = _run(capsys, "fit", "-", "-k", "1")
    assert status == 0 and "40 rows x 2 columns" in out, err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw[:-8])))
    status, _, err = _run(capsys, "fit", "-", "-k", "1")
    assert status == 1
    _assert_one_error_line(err, "<stdin> is not a valid .npy file", "only 632")


# ------------------------------------------------------------- standard input
def test_stdin_with_byte_order_mark_keeps_its_first_row(capsys, monkeypatch):
    # a BOM used to make "1,2" look like a header: one row silently lost
    text = "\ufeff1,2\n3,4\n5,6\n7,9\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    status, out, err = _run(capsys, "fit", "-", "-k", "1")
    assert status == 0, err
    assert out.splitlines()[0] == "-: 4 rows x 2 columns"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeff1,2\n3,4\n5,6\n"))
    assert "3 rows" in _run(capsys, "fit", "-", "-k", "1")[1]


def test_closed_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    status, _, err = _run(capsys, "fit", "-")
    assert status == 1
    _assert_one_error_line(err, "cannot read standard input: it is closed")


# ---------------------------------------------- defect 13: arguments swapped
def test_predict_arguments_swapped(tmp_path, data, model_file, capsys):
    err = _refused(capsys, tmp_path, "predict", data[1], model_file,
                   fragment="the model comes first")  # fmt: skip
    assert f"{model_file} (DATA) is a JSON file" in err
    assert f"{data[1]} (MODEL) is not a model file" in err
    _refused(capsys, tmp_path, "predict", model_file, model_file,
             fragment=f"{model_file} (DATA) is a JSON file, not data")  # fmt: skip
    np.save(tmp_path / "x.npy", data[0])
    _refused(capsys, tmp_path, "predict", tmp_path / "x.npy", data[1],
             fragment="(MODEL) is a .npy array, not a model file")  # fmt: skip
    _refused(capsys, tmp_path, "predict", "-", data[1],
             fragment="MODEL must be a model file")  # fmt: skip
    _refused(capsys, tmp_path, "fit", model_file,
             fragment="is a JSON file (an emfast model?)")  # fmt: skip


# ------------------------------------------- defect 13: pandas index column
def test_pandas_index_column_is_refused(tmp_path, rng, capsys):
    pd = pytest.importorskip("pandas")
    X = _blobs(rng, n_samples=30)
    pd.DataFrame(X, columns=["a", "b"]).to_csv(tmp_path / "named.csv")
    pd.DataFrame(X).to_csv(tmp_path / "unnamed.csv")
    for name in ("named.csv", "unnamed.csv"):
        _refused(capsys, tmp_path, "fit", tmp_path / name, "-k", "1",
                 fragment="line 1: the header starts with an empty name")  # fmt: skip
    (tmp_path / "r.csv").write_text('"","x","y"\n"1",0.5,1.5\n"2",2.5,3.5\n')
    _refused(capsys, tmp_path, "fit", tmp_path / "r.csv", "-k", "1",
             fragment="index=False (R: row.names=FALSE)")  # fmt: skip
    # without the index the same frame is read as it is
    pd.DataFrame(X, columns=["a", "b"]).to_csv(tmp_path / "plain.csv", index=False)
    status, out, err = _run(capsys, "fit", tmp_path / "plain.csv", "-k", "1")
    assert status == 0 and "30 rows x 2 columns (a, b)" in out, err


def test_pandas_default_header_is_data_with_a_warning(tmp_path, rng, capsys):
    pd = pytest.importorskip("pandas")
    X = _blobs(rng, n_samples=30)
    pd.DataFrame(X).to_csv(tmp_path / "x.csv", index=False)  # header "0,1"
    status, out, err = _run(capsys, "fit", tmp_path / "x.csv", "-k", "1")
    assert status == 0
    assert "31 rows x 2 columns" in out
    assert err.splitlines() == [
        f"emfast: warning: {tmp_path / 'x.csv'}, line 1: the first row 0,1 is read "
        "as data; if it is the header pandas writes for unnamed columns, remove it "
        "(or name the columns)"
    ]


# ------------------------------------------------------- outputs and inputs
def test_output_never_replaces_an_input(tmp_path, data, model_file, capsys):
    before = Path(data[1]).read_text()
    _refused(capsys, tmp_path, "fit", data[1], "-k", "1", "-o", data[1],
             fragment="it is the DATA file")  # fmt: skip
    os.symlink(data[1], tmp_path / "link.csv")
    _refused(capsys, tmp_path, "fit", data[1], "-k", "1", "-o", tmp_path / "link.csv",
             fragment="it is the DATA file")  # fmt: skip
    _refused(capsys, tmp_path, "predict", model_file, data[1], "-o", model_file,
             fragment="it is the MODEL file")  # fmt: skip
    _refused(capsys, tmp_path, "predict", model_file, data[1], "-o", data[1],
             fragment="it is the DATA file")  # fmt: skip
    assert Path(data[1]).read_text() == before


def test_output_to_a_device_writes_it_in_place(tmp_path, data, model_file, capsys):
    # -o /dev/stdout (a link to /proc/self/fd/1): an atomic rename onto it would
    # replace the link (as root, the device node) with a regular file. A link of
    # the same kind in tmp_path keeps a regression from touching /dev.
    os.symlink("/proc/self/fd/1", tmp_path / "stdout")
    child = subprocess.run(
        _emfast("predict", model_file, data[1], "-o", tmp_path / "stdout"),
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[0] == "label"
    assert len(child.stdout.splitlines()) == 81
    assert os.readlink(tmp_path / "stdout") == "/proc/self/fd/1"
    _refused(capsys, tmp_path, "fit", data[1], "-o", "",
             fragment="the output file name is empty")  # fmt: skip


def test_main_module_runs(tmp_path, data):
    child = subprocess.run(
        _emfast("fit", data[1], "-k", "1"), cwd=tmp_path, env=_env(),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(f"{data[1]}: 80 rows x 2 columns (a, b)")


def test_closed_stderr_keeps_warnings_out_of_the_result(tmp_path, model_file):
    # print(file=sys.stderr) with stderr closed writes to stdout: the warning
    # about a 0,1 first row must not land in the predicted CSV
    (tmp_path / "x.csv").write_text("0,1\n0.5,11.0\n12.0,0.3\n")
    child = subprocess.run(
        " ".join(_emfast("predict", model_file, "x.csv")) + " 2>&-",
        shell=True, cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert child.returncode == 0
    lines = child.stdout.splitlines()
    assert lines[0] == "label" and len(lines) == 4
    assert all(line in ("0", "1") for line in lines[1:])


def test_data_and_model_through_pipes(tmp_path, data, model_file):
    # process substitution gives /dev/fd/N pipes: checking what a file looks
    # like must not consume the bytes the command reads afterwards
    command = " ".join(_emfast("predict", f"<(cat {model_file})", f"<(cat {data[1]})"))
    child = subprocess.run(
        command, shell=True, executable="/bin/bash", cwd=tmp_path, env=_env(),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    expected = load_model(model_file).predict(data[0])
    assert child.stdout.split()[1:] == [str(label) for label in expected]
