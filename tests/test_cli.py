"""The command line (python -m emfast fit / predict / demo) and the JSON model files."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emfast
from emfast import GaussianMixture
from emfast._cli import main, parse_covariance_types, parse_n_components
from emfast._model_io import load_model, save_model
from emfast.mixture.selection import select_n_components

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


def _blobs(rng, n_samples=120, n_features=2, n_components=2):
    """Round clusters at least ~10 standard deviations apart."""
    centers = 12.0 * np.eye(n_components, n_features)
    centers += rng.normal(size=centers.shape)
    labels = rng.integers(n_components, size=n_samples)
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def _write_csv(path, X, header=None):
    lines = [] if header is None else [",".join(header)]
    lines += [",".join(repr(float(v)) for v in row) for row in X]
    Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def _read_csv(text):
    lines = text.splitlines()
    return lines[0].split(","), np.array(
        [[float(v) for v in line.split(",")] for line in lines[1:]]
    )


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _assert_one_error_line(err, *fragments):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("emfast: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def data(tmp_path, rng):
    X = _blobs(rng)
    return X, _write_csv(tmp_path / "data.csv", X, header=["a", "b"])


@pytest.fixture
def model_file(tmp_path, data):
    path = tmp_path / "model.json"
    save_model(GaussianMixture(2, random_state=0).fit(data[0]), path)
    return str(path)


# ------------------------------------------------------------------ fit
def test_fit_prints_table_and_saves_best(tmp_path, data, capsys):
    X, csv_path = data
    out_path = tmp_path / "model.json"
    status, out, err = _run(
        capsys, "fit", csv_path, "--n-components", "1:4", "--criterion", "bic",
        "--covariance-type", "full", "-o", out_path,
    )  # fmt: skip
    assert status == 0, err
    expected = select_n_components(X, range(1, 5), random_state=0)
    assert f"{csv_path}: 120 rows x 2 columns (a, b)" in out
    assert str(expected.table_).splitlines()[0] in out
    assert f"Best by BIC: K = {expected.n_components_}" in out
    assert f"Saved the best model to {out_path}" in out
    model = load_model(out_path)
    assert model.n_components == expected.n_components_ == 2
    assert_array_equal(
        model.predict_proba(X), expected.best_estimator_.predict_proba(X)
    )


@pytest.mark.parametrize(
    "spec, ks",
    [
        ("3", [3]),
        ("1,2,4", [1, 2, 4]),
        ("1:6", [1, 2, 3, 4, 5, 6]),
        ("2:8:3", [2, 5, 8]),
        ("4:4", [4]),
    ],
)
def test_n_components_spec(spec, ks):
    assert list(parse_n_components(spec)) == ks


def test_fit_with_k_list_and_several_types(data, capsys):
    status, out, err = _run(
        capsys, "fit", data[1], "-k", "1,3", "--covariance-type", "diag,tied",
        "--criterion", "aic", "--n-init", "2",
    )  # fmt: skip
    assert status == 0, err
    rows = [line.lstrip("* ").split()[:2] for line in out.splitlines()[2:6]]
    assert rows == [["1", "diag"], ["3", "diag"], ["1", "tied"], ["3", "tied"]]
    assert "Best by AIC" in out and "Saved" not in out
    assert parse_covariance_types("all") == COVARIANCE_TYPES


@pytest.mark.parametrize(
    "option, value",
    [
        ("-k", "a"),
        ("-k", ""),
        ("-k", "3:1"),
        ("-k", "0"),
        ("-k", "0,1"),
        ("-k", "1:4:0"),
        ("-k", "1:2:3:4"),
        ("-k", "1,,2"),
        ("--criterion", "bicc"),
        ("--covariance-type", "full,fulll"),
        ("--n-init", "two"),
    ],
)
def test_fit_bad_options(data, capsys, option, value):
    status, out, err = _run(capsys, "fit", data[1], option, value)
    assert status == 2
    _assert_one_error_line(err, option.lstrip("-k") or "--n-components")
    assert out == ""


def test_no_command_and_help(capsys):
    status, _, err = _run(capsys)
    assert status == 2
    _assert_one_error_line(err, "required")
    status, out, _ = _run(capsys, "fit", "--help")
    assert status == 0 and "--n-components" in out


def _bad_inputs(tmp_path):
    """(file name, content) of data files the commands must refuse."""
    np.save(tmp_path / "vector.npy", np.arange(5.0))
    np.save(tmp_path / "objects.npy", np.array([[{}], [{}]], dtype=object))
    np.save(tmp_path / "strings.npy", np.array([["a", "b"]]))
    np.save(tmp_path / "nan.npy", np.array([[1.0, 2.0], [np.nan, 1.0]]))
    return {
        "missing": (tmp_path / "nope.csv", "nope.csv: No such file"),
        "directory": (tmp_path, "Is a directory"),
        "empty": (_text(tmp_path, "e.csv", ""), "no data"),
        "header only": (_text(tmp_path, "h.csv", "a,b\n"), "no data rows"),
        "word": (_text(tmp_path, "w.csv", "1,2\n3,x\n"), "line 2, column 2: 'x'"),
        "blank cell": (_text(tmp_path, "b.csv", "1,2\n3,\n"), "an empty value"),
        "nan": (_text(tmp_path, "n.csv", "a,b\n1,2\nnan,3\n"), "line 3, column 1: nan"),
        "inf": (_text(tmp_path, "i.csv", "1,2\n3,-inf\n"), "line 2, column 2: -inf"),
        "ragged": (_text(tmp_path, "r.csv", "1,2\n\n3,4,5\n"), "line 3: 3 values"),
        "header width": (_text(tmp_path, "x.csv", "a,b,c\n1,2\n"), "header has 3"),
        "binary": (_bytes(tmp_path, "bin.csv", b"\xff\xfe\x00"), "UTF-8"),
        "1-D npy": (tmp_path / "vector.npy", "shape (5,)"),
        "pickle npy": (tmp_path / "objects.npy", "holds Python objects"),
        "string npy": (tmp_path / "strings.npy", "non-numeric"),
        "nan npy": (tmp_path / "nan.npy", "row 2, column 1: nan"),
    }


def _text(directory, name, text):
    (directory / name).write_text(text)
    return directory / name


def _bytes(directory, name, content):
    (directory / name).write_bytes(content)
    return directory / name


BAD_INPUTS = [
    "missing", "directory", "empty", "header only", "word", "blank cell", "nan",
    "inf", "ragged", "header width", "binary", "1-D npy", "pickle npy",
    "string npy", "nan npy",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_fit_refuses_bad_data(tmp_path, capsys, case):
    path, fragment = _bad_inputs(tmp_path)[case]
    before = set(os.listdir(tmp_path))
    status, out, err = _run(capsys, "fit", path, "-k", "1", "-o", tmp_path / "m.json")
    assert status == 1
    _assert_one_error_line(err, fragment)
    assert out == ""
    assert set(os.listdir(tmp_path)) == before  # no model, no temporary file


def test_fit_errors_after_reading(tmp_path, data, capsys):
    out_path = tmp_path / "m.json"
    status, _, err = _run(capsys, "fit", data[1], "-k", "1:500", "-o", out_path)
    assert status == 1
    _assert_one_error_line(err, "n_components must be <= n_samples = 120")
    status, _, err = _run(capsys, "fit", data[1], "--n-init", "0", "-o", out_path)
    assert status == 1
    _assert_one_error_line(err, "'n_init' parameter")
    status, _, err = _run(capsys, "fit", data[1], "-o", tmp_path / "no" / "m.json")
    assert status == 1
    _assert_one_error_line(err, "does not exist")
    assert not out_path.exists()


def test_fit_reads_variants(tmp_path, rng, capsys):
    X = _blobs(rng, n_samples=40)
    _write_csv(tmp_path / "plain.csv", X)
    # BOM, quoted header, CRLF line ends, spaces, blank lines, quoted numbers
    messy = '\ufeff"x 1",x2\r\n\r\n' + "".join(
        f' {a!r} ,"{b!r}"\r\n' for a, b in X.tolist()
    )
    (tmp_path / "messy.csv").write_text(messy, encoding="utf-8", newline="")
    np.save(tmp_path / "float32.npy", X.astype(np.float32))
    os.replace(tmp_path / "float32.npy", tmp_path / "float32.bin")  # no extension
    for name in ("plain.csv", "messy.csv", "float32.bin"):
        path = tmp_path / name
        status, out, err = _run(capsys, "fit", path, "-k", "2", "-o", f"{path}.json")
        assert status == 0, (name, err)
        assert "40 rows x 2 columns" in out
    assert "(x 1, x2)" in (_run(capsys, "fit", tmp_path / "messy.csv", "-k", "1")[1])
    models = [load_model(f"{tmp_path / n}.json") for n in ("plain.csv", "messy.csv")]
    assert_array_equal(models[0].means_, models[1].means_)
    assert load_model(f"{tmp_path / 'float32.bin'}.json").means_.dtype == np.float32


def test_fit_reads_stdin(monkeypatch, rng, capsys):
    X = _blobs(rng, n_samples=30)
    text = "\n".join(",".join(map(repr, row)) for row in X.tolist())
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    status, out, err = _run(capsys, "fit", "-", "-k", "1:2")
    assert status == 0, err
    assert "<stdin>" not in out and "30 rows x 2 columns" in out


# -------------------------------------------------------------- predict
def test_predict_labels_and_probabilities(tmp_path, data, capsys):
    X, csv_path = data
    model_file = tmp_path / "model.json"
    status, _, err = _run(capsys, "fit", csv_path, "-k", "1:3", "-o", model_file)
    assert status == 0, err
    model = load_model(model_file)
    status, out, err = _run(capsys, "predict", model_file, csv_path)
    assert status == 0, err
    header, labels = _read_csv(out)
    assert header == ["label"]
    assert_array_equal(labels[:, 0], model.predict(X))

    out_path = tmp_path / "proba.csv"
    status, out, err = _run(
        capsys, "predict", model_file, csv_path, "--proba", "-o", out_path
    )
    assert status == 0 and out == "", err
    header, proba = _read_csv(out_path.read_text())
    assert header == [f"proba_{k}" for k in range(model.n_components)]
    assert_array_equal(proba, model.predict_proba(X))  # exact digits


def test_predict_float32_probabilities_are_exact(tmp_path, rng, capsys):
    X = _blobs(rng, n_samples=50).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    model = GaussianMixture(2, random_state=0).fit(X)
    save_model(model, tmp_path / "m.json")
    status, out, err = _run(
        capsys, "predict", tmp_path / "m.json", tmp_path / "x.npy", "--proba"
    )
    assert status == 0, err
    proba = np.array(
        [[np.float32(v) for v in line.split(",")] for line in out.split()[1:]]
    )
    assert_array_equal(proba, model.predict_proba(X))


def _predict_failures(tmp_path, model_file):
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"weights": [0.5, 0.5]}')
    broken = tmp_path / "broken.json"
    broken.write_text(Path(model_file).read_text()[:-20])
    document = json.loads(Path(model_file).read_text())
    document["fitted"]["means_"]["shape"] = [2, 3]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    three = _write_csv(tmp_path / "three.csv", np.ones((4, 3)))
    nan = _text(tmp_path, "nan.csv", "1,2\n3,nan\n")
    good = _write_csv(tmp_path / "good.csv", np.ones((4, 2)))
    return {
        "missing model": ((tmp_path / "none.json", good), "No such file"),
        "foreign json": ((foreign, good), "not an emfast model file"),
        "broken json": ((broken, good), "not valid JSON"),
        "csv as model": ((good, good), "not valid JSON"),
        "tampered": ((tampered, good), "do not match the shape"),
        "missing data": ((model_file, tmp_path / "none.csv"), "No such file"),
        "nan data": ((model_file, nan), "line 2, column 2: nan"),
        "columns": ((model_file, three), "has 3 columns but the model"),
    }


PREDICT_FAILURES = [
    "missing model", "foreign json", "broken json", "csv as model", "tampered",
    "missing data", "nan data", "columns",
]  # fmt: skip


@pytest.mark.parametrize("case", PREDICT_FAILURES)
@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "file"])
def test_predict_failures(tmp_path, model_file, capsys, case, to_file):
    (model, data), fragment = _predict_failures(tmp_path, model_file)[case]
    out_path = tmp_path / "out.csv"
    out_path.write_text("previous\n")
    before = set(os.listdir(tmp_path))
    extra = ["-o", out_path] if to_file else []
    status, out, err = _run(capsys, "predict", model, data, "--proba", *extra)
    assert status == 1
    _assert_one_error_line(err, fragment)
    assert out == ""
    assert out_path.read_text() == "previous\n"  # untouched
    assert set(os.listdir(tmp_path)) == before


def test_demo_command_is_routed(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("emfast._demo.run_demo", lambda speed: calls.append(speed))
    assert main(["demo", "--no-speed"]) == 0
    assert main(["demo"]) == 0
    assert calls == [False, True]


def test_subprocess_fit_predict(tmp_path, rng):
    X = _blobs(rng, n_samples=60)
    csv_path = _write_csv(tmp_path / "data.csv", X)
    env = dict(os.environ, PYTHONPATH=str(Path(emfast.__file__).parent.parent))
    command = [sys.executable, "-m", "emfast"]
    fit = subprocess.run(
        [*command, "fit", csv_path, "-k", "1:3", "-o", "model.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert "Best by BIC: K = 2" in fit.stdout
    model = load_model(tmp_path / "model.json")
    assert_array_equal(
        model.means_,
        select_n_components(X, range(1, 4), random_state=0).best_estimator_.means_,
    )

    failed = subprocess.run(
        [*command, "predict", "model.json", "missing.csv", "-o", "out.csv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 1
    _assert_one_error_line(failed.stderr, "cannot read missing.csv")
    assert not (tmp_path / "out.csv").exists()


# ---------------------------------------------------------- model files
def _assert_same_model(loaded, model, X):
    assert type(loaded) is GaussianMixture
    params, expected = loaded.get_params(), model.get_params()
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(params[name], value)
        elif not isinstance(value, np.random.RandomState):
            assert params[name] == value and type(params[name]) is type(value), name
    for name in FITTED:
        assert getattr(loaded, name).dtype == getattr(model, name).dtype
        assert_array_equal(getattr(loaded, name), getattr(model, name))
    for name in ("n_features_in_", "converged_", "n_iter_", "lower_bounds_"):
        assert getattr(loaded, name) == getattr(model, name)
    assert loaded.lower_bound_ == model.lower_bound_
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_model_round_trip(tmp_path, rng, covariance_type, global_dtype):
    X = _blobs(rng, n_samples=200, n_features=3, n_components=3).astype(global_dtype)
    model = GaussianMixture(
        3, covariance_type=covariance_type, random_state=int(rng.integers(2**31))
    ).fit(X)
    path = tmp_path / "model.json"
    save_model(model, path)
    loaded = load_model(path)
    _assert_same_model(loaded, model, X)
    assert_array_equal(loaded.sample(5)[0], model.sample(5)[0])
    text = path.read_text()
    assert "pickle" not in text and json.loads(text)["format"] == "emfast-model"
    assert os.listdir(tmp_path) == ["model.json"]


def test_model_round_trip_unusual_values(tmp_path, rng):
    X = _blobs(rng, n_samples=50)
    state = np.random.RandomState(int(rng.integers(2**31)))
    state.normal()  # a cached gaussian in the state
    model = GaussianMixture(
        2,
        max_iter=0,
        random_state=state,
        means_init=[[0, 0], [1, 1]],
        tol=np.float32(0.5),
    )
    model.fit(X)  # max_iter=0: the initial parameters, lower_bound_ = -inf
    model.feature_names_in_ = np.array(["a", "b"], dtype=object)
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert loaded.lower_bound_ == -np.inf and loaded.lower_bounds_ == []
    assert_array_equal(loaded.feature_names_in_, ["a", "b"])
    assert_array_equal(loaded.means_init, [[0.0, 0.0], [1.0, 1.0]])
    assert loaded.tol == 0.5
    assert_array_equal(loaded.random_state.get_state()[1], state.get_state()[1])
    assert_array_equal(loaded.sample(7)[0], model.sample(7)[0])


def test_save_model_refuses(tmp_path, rng):
    X = _blobs(rng, n_samples=30)
    with pytest.raises(NotFittedError):
        save_model(GaussianMixture(2), tmp_path / "m.json")
    with pytest.raises(TypeError, match="emfast.GaussianMixture"):
        save_model(SkGaussianMixture(2).fit(X), tmp_path / "m.json")
    with pytest.raises(FileNotFoundError):
        save_model(GaussianMixture(1).fit(X), tmp_path / "no" / "m.json")
    assert os.listdir(tmp_path) == []


def _tamper(document, change):
    document = json.loads(json.dumps(document))
    change(document)
    return json.dumps(document)


def _set(*keys, value):
    def change(document):
        target = document
        for key in keys[:-1]:
            target = target[key]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value

    return change


TAMPERED = {
    "format": (_set("format", value="other"), "not an emfast model file"),
    "version": (_set("format_version", value=2), "format version 2"),
    "version type": (_set("format_version", value="1"), "invalid format_version"),
    "estimator": (_set("estimator", value="KMeans"), "'KMeans' model"),
    "no fitted": (_set("fitted", value=KeyError), "missing field 'fitted'"),
    "no means": (_set("fitted", "means_", value=KeyError), "missing means_"),
    "extra": (_set("fitted", "code", value="rm -rf"), "unknown code"),
    "shape": (_set("fitted", "weights_", "shape", value=[3]), "match the shape"),
    "k": (_set("params", "n_components", value=3), "expected (3,)"),
    "dtype": (_set("fitted", "means_", "dtype", value="int8"), "float32 or float64"),
    "object": (_set("fitted", "means_", value=[[0, 1]]), "expected an array"),
    "nan": (_set("fitted", "means_", "data", 0, 0, value="nan"), "non-finite"),
    "text": (_set("fitted", "means_", "data", 0, 0, value="1"), "expected a number"),
    "bool": (_set("fitted", "converged_", value=1), "must be a bool"),
    "param": (_set("params", "covariance_type", value="round"), "invalid parameter"),
    "unknown param": (_set("params", "eval", value=1), "unknown parameter(s): eval"),
    "list param": (_set("params", "means_init", value=[[0, 0]]), "unexpected list"),
    "names": (_set("fitted", "feature_names_in_", value=["a"]), "list of 2 strings"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_load_model_refuses_malformed_files(tmp_path, rng, case):
    X = _blobs(rng, n_samples=30)
    path = tmp_path / "m.json"
    save_model(GaussianMixture(2, random_state=0).fit(X), path)
    change, match = TAMPERED[case]
    path.write_text(_tamper(json.loads(path.read_text()), change))
    with pytest.raises(ValueError, match="cannot load model from") as info:
        load_model(path)
    assert match in str(info.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "not valid JSON"),
        ("[1, 2]", "a model file is a JSON object"),
        ('{"format": "emfast-model", "format_version": NaN}', "NaN is not valid"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_load_model_refuses_non_models(tmp_path, text, match):
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_model(tmp_path / "m.json")


def test_load_model_checks_random_state(tmp_path, rng):
    X = _blobs(rng, n_samples=30)
    model = GaussianMixture(2, random_state=np.random.RandomState(0)).fit(X)
    save_model(model, tmp_path / "m.json")
    document = json.loads((tmp_path / "m.json").read_text())
    document["params"]["random_state"]["pos"] = 10**6  # would read out of bounds
    (tmp_path / "m.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="invalid RandomState"):
        load_model(tmp_path / "m.json")


# ------------------------------------------- --version and the command's name
def _console_script():
    """The ``emfast`` script pip installed next to this interpreter, if any."""
    script = Path(sys.executable).parent / "emfast"
    if not script.is_file():
        pytest.skip(f"no console script {script} (emfast is not pip-installed)")
    return str(script)


def _launch(command, *argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(Path(emfast.__file__).parent.parent))
    return subprocess.run(
        [*command, *argv], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_version_from_console_script_and_module(tmp_path):
    expected = f"emfast {emfast.__version__}\n"
    for command in ([_console_script()], [sys.executable, "-m", "emfast"]):
        child = _launch(command, "--version", cwd=tmp_path)
        assert (child.returncode, child.stdout, child.stderr) == (0, expected, "")


def test_help_names_the_command_as_invoked(tmp_path):
    module = f"{os.path.basename(sys.executable)} -m emfast"
    for command, name in [
        ([_console_script()], "emfast"),
        ([sys.executable, "-m", "emfast"], module),
    ]:
        child = _launch(command, "--help", cwd=tmp_path)
        assert child.returncode == 0, child.stderr
        assert child.stdout.startswith(f"usage: {name} [-h] [--version]")
        child = _launch(command, "fit", "--help", cwd=tmp_path)
        assert child.returncode == 0, child.stderr
        assert child.stdout.startswith(f"usage: {name} fit [-h]")


def test_version_and_command_name_in_process(tmp_path, model_file, capsys, monkeypatch):
    status, out, err = _run(capsys, "--version")
    assert (status, out, err) == (0, f"emfast {emfast.__version__}\n", "")
    # a command started as /some/bin/emfast is called emfast
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "emfast"), "--help"])
    assert main() == 0
    assert capsys.readouterr().out.startswith("usage: emfast [-h]")
    # messages that show a command line use the name given
    data_path = _write_csv(tmp_path / "data.csv", np.ones((4, 2)))
    status = main(["predict", data_path, model_file], prog="python3 -m emfast")
    _, err = capsys.readouterr()
    assert status == 1
    _assert_one_error_line(err, "(python3 -m emfast predict MODEL DATA)")
