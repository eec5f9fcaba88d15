"""Model files: values checked as strictly as a fit makes them, reading bounds,
byte order marks, atomic writes."""

import json
import os
import stat

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from emfast import GaussianMixture
from emfast._model_io import load_model, save_model, write_atomic
from emfast.mixture.gaussian._checks import check_gaussian_values
from tests.test_cli import _assert_one_error_line, _blobs, _run, _write_csv

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"]


def _fitted(model):
    return {name: getattr(model, name) for name in FITTED}


def _save(tmp_path, rng, covariance_type="full", dtype=np.float64, n_features=3):
    X = _blobs(rng, n_samples=150, n_features=n_features, n_components=3)
    model = GaussianMixture(
        3, covariance_type=covariance_type, random_state=int(rng.integers(2**31))
    ).fit(X.astype(dtype))
    path = tmp_path / "m.json"
    save_model(model, path)
    return path, model, X


def _edit(path, name, change):
    """Apply ``change`` to fitted array ``name`` (an ndarray) in the file."""
    document = json.loads(path.read_text())
    stored = document["fitted"][name]
    array = np.array(stored["data"], dtype=np.float64)
    change(array)
    stored["data"] = array.tolist()
    path.write_text(json.dumps(document))


# ---------------------------------------------------- the reproducer
def test_negative_weights_are_refused_by_predict(tmp_path, rng, capsys):
    # "weights_": [-0.5, 1.5] used to label every row 0 (and --proba gave nan)
    X = _blobs(rng, n_samples=60)
    path = tmp_path / "negw.json"
    save_model(GaussianMixture(2, random_state=0).fit(X), path)
    _edit(path, "weights_", lambda w: w.__setitem__(slice(None), [-0.5, 1.5]))
    data = _write_csv(tmp_path / "x.csv", [[0.0, 0.0], [5.0, 5.0]])
    for extra in ([], ["--proba"], ["-o", tmp_path / "out.csv"]):
        status, out, err = _run(capsys, "predict", path, data, *extra)
        assert status == 1 and out == ""
        _assert_one_error_line(err, "fitted.weights_ holds negative values")
    assert not (tmp_path / "out.csv").exists()


# --------------------------------------------------- every kind of bad value
def _scale_first(factor):
    def change(array):
        array.reshape(-1)[0] *= factor

    return change


def _set_lower(array):
    array[..., 1, 0] = 1e-3  # below the diagonal of (every) factor


def _negate_diagonal(array):
    if array.ndim == 3:
        array[0, 1, 1] *= -1
    elif array.ndim == 2 and array.shape[0] == array.shape[1]:
        array[1, 1] *= -1
    else:
        array.reshape(-1)[1] *= -1


def _zero_diagonal(array):
    if array.ndim == 3:
        array[0, 0, 0] = 0.0
    elif array.ndim == 2 and array.shape[0] == array.shape[1]:
        array[0, 0] = 0.0
    else:
        array.reshape(-1)[0] = 0.0


def _swap_components(array):
    array[[0, 1]] = array[[1, 0]]


BAD_VALUES = {
    "negative weight": ("weights_", _scale_first(-1), "holds negative values"),
    "weights sum": ("weights_", _scale_first(1.01), "sum to"),
    "lower triangle": ("precisions_cholesky_", _set_lower, "upper triangular"),
    "negative diagonal": ("precisions_cholesky_", _negate_diagonal, "positive"),
    "zero diagonal": ("precisions_cholesky_", _zero_diagonal, "positive"),
    "factor scaled": (
        "precisions_cholesky_",
        _scale_first(1.001),
        "disagrees with fitted.precisions_cholesky_",
    ),
    "covariance scaled": (
        "covariances_",
        _scale_first(1 + 1e-3),
        "fitted.covariances_ disagrees",
    ),
    "covariances swapped": (
        "covariances_",
        _swap_components,
        "fitted.covariances_ disagrees",
    ),
    "precision scaled": (
        "precisions_",
        _scale_first(1 + 1e-3),
        "fitted.precisions_ disagrees",
    ),
    "precisions swapped": (
        "precisions_",
        _swap_components,
        "fitted.precisions_ disagrees",
    ),
}

# For a tied model (one matrix) "swapped" swaps the first two rows of the
# matrix, which makes it asymmetric and inconsistent with the factor.
NOT_APPLICABLE = {
    ("lower triangle", "diag"),
    ("lower triangle", "spherical"),
}


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_load_model_refuses_impossible_values(
    tmp_path, rng, case, covariance_type, global_dtype
):
    if (case, covariance_type) in NOT_APPLICABLE:
        pytest.skip("a diagonal factor has no lower triangle")
    name, change, fragment = BAD_VALUES[case]
    path, _, _ = _save(tmp_path, rng, covariance_type, global_dtype)
    _edit(path, name, change)
    with pytest.raises(ValueError, match="cannot load model from") as info:
        load_model(path)
    assert fragment in str(info.value)
    assert f"fitted.{name}" in str(info.value) or "precisions_cholesky_" in str(
        info.value
    )


def test_asymmetric_covariance_is_refused(tmp_path, rng):
    path, _, _ = _save(tmp_path, rng, "full")

    def skew(array):
        array[0, 0, 1] += 1e-4 * np.sqrt(array[0, 0, 0] * array[0, 1, 1])

    _edit(path, "covariances_", skew)
    with pytest.raises(ValueError, match="covariances_ must be symmetric"):
        load_model(path)


@pytest.mark.parametrize(
    "bound, fragment",
    [("nan", "lower_bound_ must be a number or -inf"), ("inf", "or -inf")],
)
def test_lower_bound_nan_or_plus_inf(tmp_path, rng, bound, fragment):
    path, _, _ = _save(tmp_path, rng, "diag")
    document = json.loads(path.read_text())
    document["fitted"]["lower_bound_"] = bound
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=fragment):
        load_model(path)


def test_invalid_init_parameters_are_refused(tmp_path, rng):
    X = _blobs(rng, n_samples=60)
    model = GaussianMixture(2, weights_init=[0.5, 0.5], random_state=0).fit(X)
    save_model(model, tmp_path / "m.json")
    document = json.loads((tmp_path / "m.json").read_text())
    document["params"]["weights_init"]["data"] = [0.9, 0.9]
    (tmp_path / "m.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="invalid parameter: .*should be normalized"):
        load_model(tmp_path / "m.json")


# -------------------------------------------------- what a fit makes passes
def _ill_conditioned(rng, dtype):
    """A near-copy column, away from the origin: covariance condition ~1e8
    (float64) or ~1e6 (float32, whose resolution limits how near the copy is)."""
    X = _blobs(rng, n_samples=300, n_features=4, n_components=3)
    if dtype == np.float64:
        X = X * 0.01 + 1e3
    X[:, 3] = X[:, 0] + (1e-6 if dtype == np.float64 else 1e-3) * rng.normal(
        size=len(X)
    )
    return X.astype(dtype)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_models_pass_at_any_conditioning(rng, covariance_type, global_dtype):
    # The tolerances follow the rounding of each entry, so the checks pass on
    # what a fit computes whatever the conditioning, and the loaded model is
    # the saved one bit for bit.
    for X in (
        _blobs(rng, n_samples=300, n_features=5, n_components=4).astype(global_dtype),
        _ill_conditioned(rng, global_dtype),
    ):
        for n_components in (1, 4):
            model = GaussianMixture(
                n_components,
                covariance_type=covariance_type,
                random_state=int(rng.integers(2**31)),
                # float32: 1e-6 (the near-copy's own variance) left a component
                # not positive definite in float32 on some draws
                reg_covar=1e-12 if global_dtype == np.float64 else 1e-5,
            ).fit(X)
            check_gaussian_values(_fitted(model), covariance_type, model.n_iter_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("condition", [1.0, 1e6, 1e10])
def test_initial_parameters_pass(rng, covariance_type, condition, global_dtype):
    # max_iter=0 keeps the initial parameters: covariances inverted from
    # precisions_init (accurate to the conditioning, not to rounding)
    n_features, n_components = 6, 2
    X = rng.normal(size=(50, n_features)).astype(global_dtype)

    def spd():
        basis, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
        values = np.logspace(0, -np.log10(condition), n_features)
        matrix = (basis * values) @ basis.T
        return (matrix + matrix.T) / 2

    precisions = {
        "full": np.array([spd() for _ in range(n_components)]),
        "tied": spd(),
        "diag": 10.0 ** rng.uniform(-3, 3, (n_components, n_features)),
        "spherical": 10.0 ** rng.uniform(-3, 3, n_components),
    }[covariance_type]
    model = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        max_iter=0,
        precisions_init=precisions,
    ).fit(X)
    check_gaussian_values(_fitted(model), covariance_type, model.n_iter_)


# ------------------------------------------------------------ reading the file
def test_byte_order_mark_is_accepted(tmp_path, rng, capsys):
    path, model, X = _save(tmp_path, rng, "tied")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    loaded = load_model(path)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    data = _write_csv(tmp_path / "x.csv", X)
    status, out, err = _run(capsys, "predict", path, data)
    assert status == 0, err
    assert out.splitlines()[1:] == [str(label) for label in model.predict(X)]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\0" * 100, "not a text (JSON) file (it holds NUL bytes)"),
        (b"\xff\xfe{\0", "not a text (JSON) file"),
        (b"   \n 1,2\n3,4\n", "this one starts with '1,2"),
        (b"\xef\xbb\xbf", "not valid JSON"),
    ],
)
def test_non_json_model_files(tmp_path, content, fragment):
    (tmp_path / "m.json").write_bytes(content)
    with pytest.raises(ValueError, match="cannot load model from") as info:
        load_model(tmp_path / "m.json")
    assert fragment in str(info.value)


def test_dev_zero_as_model_fails_at_once(tmp_path, rng, capsys):
    data = _write_csv(tmp_path / "x.csv", _blobs(rng, n_samples=10))
    status, out, err = _run(capsys, "predict", "/dev/zero", data)
    assert status == 1 and out == ""
    _assert_one_error_line(err, "it holds NUL bytes")


# ---------------------------------------------------------------- writing
def test_write_atomic_keeps_permissions_and_links(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    link = tmp_path / "link.csv"
    os.symlink(target, link)
    write_atomic(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["link.csv", "real.csv"]


def test_write_atomic_writes_a_pipe_in_place(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(fifo, "label\n0\n")
        assert os.read(reader, 100) == b"label\n0\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # not replaced by a file
