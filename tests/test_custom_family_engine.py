"""CustomMixture gets everything the engine gives: input forms (chunked,
memory-mapped, Dask), threads, weights, n_init, warm starts, partial_fit,
verbose output, clone and pickle; and clear errors for bad families and rows."""

import io
import json
import math
import os
import pickle
import subprocess
import sys
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import emfast
from emfast import ComponentFamily, CustomMixture, _chunks, save_model
from tests import custom_families as families
from tests.custom_families import EXPONENTIAL, VON_MISES
from tests.test_custom_family import exponential_rows, von_mises_angles

ROOT = Path(__file__).resolve().parent.parent


def _seed(rng):
    return int(rng.integers(2**31))


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


def _same_fit(a, b):
    assert_array_equal(a.weights_, b.weights_)
    assert_array_equal(a.params_, b.params_)
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 32)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


# ------------------------------------------------------------- input forms
def test_chunked_memmap_and_thread_counts_give_the_in_memory_fit_bitwise(
    rng, small_chunks, tmp_path
):
    X = von_mises_angles(rng, 1500)
    weights = rng.uniform(0, 3, size=X.shape[0])
    kwargs = dict(init_params="random_from_data", max_iter=10, random_state=_seed(rng))
    with emfast.num_threads(2):
        in_memory = _quiet(
            CustomMixture(VON_MISES, 3, **kwargs).fit, X, sample_weight=weights
        )
    edges = [0, *np.sort(rng.choice(np.arange(1, 1500), 9, replace=False)), 1500]
    chunks = [(X[a:b], weights[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    chunked = _quiet(CustomMixture(VON_MISES, 3, **kwargs).fit, chunks)
    np.save(tmp_path / "X.npy", X)
    mapped = _quiet(
        CustomMixture(VON_MISES, 3, **kwargs).fit,
        np.load(tmp_path / "X.npy", mmap_mode="r"),
        sample_weight=weights,
    )
    with emfast.num_threads(1):
        one_thread = _quiet(
            CustomMixture(VON_MISES, 3, **kwargs).fit, X, sample_weight=weights
        )
    for fitted in (chunked, mapped, one_thread):
        _same_fit(fitted, in_memory)
    assert_array_equal(
        _quiet(CustomMixture(VON_MISES, 3, **kwargs).fit_predict, chunks),
        in_memory.predict(X),
    )


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def test_dask_fit_equals_the_in_memory_fit(client, rng):
    """Worker processes receive the family's functions by pickling."""
    import dask.array as da

    X = von_mises_angles(rng, 4000)
    weights = rng.uniform(0, 2, size=X.shape[0])
    kwargs = dict(init_params="random_from_data", random_state=_seed(rng), tol=1e-8)
    local = _quiet(CustomMixture(VON_MISES, 3, **kwargs).fit, X, sample_weight=weights)
    on_dask = _quiet(
        CustomMixture(VON_MISES, 3, **kwargs).fit,
        da.from_array(X, chunks=900),
        sample_weight=da.from_array(weights, chunks=900),
    )
    assert on_dask.n_iter_ == local.n_iter_
    assert_allclose(on_dask.lower_bounds_, local.lower_bounds_, rtol=1e-10)
    assert_allclose(on_dask.weights_, local.weights_, rtol=1e-10)
    assert_allclose(on_dask.params_, local.params_, rtol=1e-10, atol=1e-12)
    scores = on_dask.score_samples(da.from_array(X, chunks=700))
    assert_allclose(scores.compute(), local.score_samples(X), rtol=1e-10, atol=1e-13)
    bad = np.abs(X)
    bad[1000, 0] = -1.0
    with pytest.raises(ValueError, match=r"X\[1000\] = \[-1.0\] is outside"):
        CustomMixture(EXPONENTIAL, 2, init_params="random_from_data").fit(
            da.from_array(bad, chunks=300)
        )


# -------------------------------------------- weights, n_init, warm start
def test_integer_weights_equal_repeated_rows(rng):
    X = exponential_rows(rng, 800)
    counts = rng.integers(0, 4, size=X.shape[0])
    start = CustomMixture(EXPONENTIAL, 3, max_iter=0, random_state=_seed(rng))
    _quiet(start.fit, X)
    fits = []
    for data, w in ((X, counts), (np.repeat(X, counts, axis=0), None)):
        model = CustomMixture(EXPONENTIAL, 3, warm_start=True, max_iter=20, tol=0)
        model.weights_, model.params_ = start.weights_, start.params_
        model.n_features_in_, model.converged_ = 1, False
        model.lower_bound_ = -np.inf
        fits.append(_quiet(model.fit, data, sample_weight=w))
    assert_allclose(fits[0].params_, fits[1].params_, rtol=1e-10)
    assert_allclose(fits[0].weights_, fits[1].weights_, rtol=1e-10)


def test_n_init_keeps_the_best_of_the_inits_drawn_in_order(rng):
    X = von_mises_angles(rng, 1000)
    seed = _seed(rng)
    kwargs = dict(init_params="random", max_iter=15)
    best = _quiet(
        CustomMixture(VON_MISES, 3, n_init=3, random_state=seed, **kwargs).fit, X
    )
    state = np.random.RandomState(seed)  # consumed by the inits in turn
    singles = [
        _quiet(CustomMixture(VON_MISES, 3, random_state=state, **kwargs).fit, X)
        for _ in range(3)
    ]
    _same_fit(best, max(singles, key=lambda m: m.lower_bound_))


def test_warm_start_continues_the_em_path(rng):
    X = von_mises_angles(rng, 1000)
    kwargs = dict(init_params="random", tol=0.0, random_state=_seed(rng))
    straight = _quiet(CustomMixture(VON_MISES, 3, max_iter=10, **kwargs).fit, X)
    warm = CustomMixture(VON_MISES, 3, max_iter=5, warm_start=True, **kwargs)
    _quiet(warm.fit, X)
    _quiet(warm.fit, X)
    assert_array_equal(warm.params_, straight.params_)
    assert warm.lower_bounds_ == straight.lower_bounds_[5:]


def test_verbose_prints_the_engines_messages(rng):
    X = exponential_rows(rng, 300)
    out = io.StringIO()
    with redirect_stdout(out):
        CustomMixture(EXPONENTIAL, 2, verbose=2, verbose_interval=1).fit(X)
    assert "Initialization 0" in out.getvalue()
    assert "Iteration 1\t time lapse" in out.getvalue()


# -------------------------------------------------------------- partial_fit
def test_partial_fit_reaches_the_full_batch_likelihood(rng):
    """The best of three streams (each starts from its first batch of 500 rows,
    which can lead to a worse local optimum) comes within 1 % of the batch fit
    with as many starts."""
    X = von_mises_angles(rng, 20_000)
    full = CustomMixture(VON_MISES, 3, random_state=0, tol=1e-6, n_init=3).fit(X)
    order = rng.permutation(X.shape[0])
    scores = []
    for seed in range(3):
        online = CustomMixture(VON_MISES, 3, random_state=seed)
        for start in range(0, X.shape[0], 500):
            online.partial_fit(X[order[start : start + 500]])
        assert online.n_iter_ == 40
        scores.append(online.score(X))
    gap = (full.score(X) - max(scores)) / abs(full.score(X))
    assert gap < 0.01, gap


@pytest.mark.parametrize("with_expected", [True, False])
def test_partial_fit_continues_a_fit(rng, with_expected):
    """With expected_statistics the stream starts where the fit is (a batch of
    all training rows leaves a converged fit in place); without, it starts from
    the batch's statistics (one EM step on it: here as good)."""
    X = von_mises_angles(rng, 3000)
    family = VON_MISES
    if not with_expected:
        family = ComponentFamily(
            VON_MISES.log_density,
            VON_MISES.statistics,
            VON_MISES.m_step,
            n_statistics=2,
            n_parameters=2,
        )
    model = CustomMixture(family, 3, tol=1e-12, max_iter=2000, random_state=0)
    model.fit(X)
    params, n_iter = model.params_.copy(), model.n_iter_
    model.partial_fit(X)
    # EM's parameters still move by about 1e-6 when its bound moves by 1e-12
    assert_allclose(model.params_, params, rtol=1e-6 if with_expected else 1e-5)
    assert model.n_iter_ == n_iter + 1
    unpickled = pickle.loads(pickle.dumps(model))
    unpickled.partial_fit(X[:500])
    model.partial_fit(X[:500])
    _same_fit(unpickled, model)


# -------------------------------------------------- clone, pickle, files
def test_clone_shares_the_family_and_pickle_round_trips(rng):
    X = von_mises_angles(rng, 1000)
    model = CustomMixture(VON_MISES, 3, random_state=0).fit(X)
    copy = clone(model)
    assert copy.family is model.family  # immutable: the compiled kernels are kept
    assert copy.get_params() == model.get_params()
    with pytest.raises(AttributeError, match="immutable"):
        VON_MISES.n_statistics = 3
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.family.log_density is VON_MISES.log_density
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert repr(model.family) == "ComponentFamily(name='von Mises')"


def test_save_model_refuses_a_user_family_with_a_clear_type_error(rng, tmp_path):
    model = CustomMixture(EXPONENTIAL, 2).fit(exponential_rows(rng, 200))
    with pytest.raises(TypeError, match="code, which a model file never holds"):
        save_model(model, tmp_path / "model.json")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ errors
@numba.njit
def log_of_x(x, t, theta):  # NaN for negative rows
    return math.log(x[0]) - theta[0]


def _one_parameter(m_step):
    return ComponentFamily(
        log_of_x,
        families.exponential_statistics,
        m_step,
        n_statistics=1,
        n_parameters=1,
        name="broken",
    )


def not_numba(x, t, theta):
    return 0.0


@numba.njit
def weighted_statistics(x, r, out):
    out[0] += r * x[0]


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (dict(log_density=not_numba), TypeError, "must be a numba function"),
        (dict(statistics=weighted_statistics), TypeError, r"2 arguments \(x, t\)"),
        (dict(m_step=None), TypeError, "m_step must be callable"),
        (dict(n_statistics=0), ValueError, "n_statistics must be >= 1"),
        (dict(n_statistics=2.0), TypeError, "n_statistics must be an int"),
        (dict(n_parameters=-1), ValueError, "n_parameters must be >= 0"),
        (dict(sample=3), TypeError, "sample must be callable"),
        (dict(name=3), TypeError, "name must be a string"),
    ],
)
def test_family_arguments_are_checked(arguments, error, message):
    valid = dict(
        log_density=families.exponential_log_density,
        statistics=families.exponential_statistics,
        m_step=families.exponential_m_step,
        n_statistics=1,
        n_parameters=1,
    )
    with pytest.raises(error, match=message):
        ComponentFamily(**{**valid, **arguments})


def test_family_must_be_a_component_family(rng):
    with pytest.raises(InvalidParameterError, match="'family' parameter"):
        CustomMixture(families.exponential_m_step).fit(exponential_rows(rng, 50))
    sizes = ComponentFamily(
        families.exponential_log_density,
        families.exponential_statistics,
        families.exponential_m_step,
        n_statistics=lambda n_features: "two",
        n_parameters=1,
    )
    with pytest.raises(TypeError, match=r"n_statistics\(1\) must return an int"):
        CustomMixture(sizes).fit(exponential_rows(rng, 50))


def _flat_rates(nk, sums):
    return nk / sums[:, 0]  # 1-D: one value per component


def _nan_rates(nk, sums):
    rates = nk[:, np.newaxis] / sums
    rates[-1] = np.nan
    return rates


@pytest.mark.parametrize(
    "m_step, message",
    [
        (
            _flat_rates,
            r"shape \(n_components, n_params\) = \(2, n_params\), got "
            r"shape \(2,\)",
        ),
        (_nan_rates, r"non-finite parameters for component 1: array\(\[nan\]\)"),
    ],
)
def test_a_bad_m_step_raises_and_keeps_the_fitted_model(rng, m_step, message):
    X = exponential_rows(rng, 300)
    model = CustomMixture(EXPONENTIAL, 2, random_state=0).fit(X)
    params = model.params_.copy()
    broken = ComponentFamily(
        families.exponential_log_density,
        families.exponential_statistics,
        m_step,
        n_statistics=1,
        n_parameters=1,
        name="broken",
    )
    with pytest.raises(ValueError, match=message):
        model.set_params(family=broken).fit(X)
    assert_array_equal(model.params_, params)


def test_nan_log_densities_and_rows_outside_the_support_raise(rng):
    X = exponential_rows(rng, 300)
    X[130, 0] = -1.0
    with pytest.raises(ValueError, match="gave NaN on the training rows"):
        CustomMixture(_one_parameter(families.exponential_m_step), 2).fit(
            X, sample_weight=np.ones(300)
        )
    with pytest.raises(
        ValueError,
        match=r"X\[130\] = \[-1.0\] is outside the support of the exponential "
        r"family of CustomMixture \(as are 0 more",
    ):
        CustomMixture(EXPONENTIAL, 2).fit(X)
    with pytest.raises(ValueError, match=r"X\[130\] = \[-1.0\] is outside"):
        CustomMixture(EXPONENTIAL, 2, init_params="random").fit([X[:100], X[100:]])
    model = CustomMixture(EXPONENTIAL, 2).fit(np.abs(X))
    with pytest.raises(ValueError, match=r"X\[1\] = \[-2.0\] is outside"):
        model.predict([[1.0], [-2.0]])


@numba.njit
def two_statistics(x, t):  # for a family that declares one
    t[0] = x[0]
    t[1] = x[0] * x[0]


@numba.njit
def second_parameter(x, t, theta):  # for an M-step that returns one
    return math.log(theta[0]) - theta[1] * x[0]


def test_functions_that_go_past_their_arrays_are_caught(rng):
    """numba checks no bounds: the engine tries the functions on guarded
    arrays before each block, so they never write past their buffers."""
    X = exponential_rows(rng, 300)
    writes_more = ComponentFamily(
        families.exponential_log_density,
        two_statistics,
        families.exponential_m_step,
        n_statistics=1,
        n_parameters=1,
    )
    with pytest.raises(ValueError, match="writes past the n_statistics = 1 values"):
        CustomMixture(writes_more, 2).fit(X)
    reads_more = ComponentFamily(
        second_parameter,
        families.exponential_statistics,
        families.exponential_m_step,
        n_statistics=1,
        n_parameters=1,
        name="exponential",
    )
    with pytest.raises(ValueError, match="reads past the 1 parameters per component"):
        CustomMixture(reads_more, 2).fit(X)
    model = CustomMixture(EXPONENTIAL, 2).fit(X)
    model.family = reads_more  # as if set_params after the fit
    with pytest.raises(ValueError, match="reads past the 1 parameters"):
        model.score_samples(X)


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already running without JIT"
)
def test_a_family_runs_as_plain_python_without_jit(rng, tmp_path):
    """NUMBA_DISABLE_JIT=1: the user's functions and the generic kernel run
    uncompiled and give the compiled fit (to the rounding of exp)."""
    X = von_mises_angles(rng, 300)
    np.save(tmp_path / "X.npy", X)
    script = (
        "import json, sys, numpy as np\n"
        "from emfast import CustomMixture\n"
        "from tests.custom_families import VON_MISES\n"
        "m = CustomMixture(VON_MISES, 2, max_iter=5, init_params='random',"
        " random_state=0).fit(np.load(sys.argv[1]))\n"
        "print(json.dumps(m.params_.tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script, str(tmp_path / "X.npy")],
        env=dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    compiled = CustomMixture(
        VON_MISES, 2, max_iter=5, init_params="random", random_state=0
    )
    _quiet(compiled.fit, X)
    assert_allclose(json.loads(result.stdout), compiled.params_, rtol=1e-9)
