"""CategoricalMixture on every input form (memory maps, chunk sources, Dask
arrays), partial_fit, warm starts and model files."""

import io
import json
import tracemalloc
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from emfast import CategoricalMixture, _chunks, load_model, save_model
from emfast.mixture._engine.weights import NK_OFFSET
from emfast.mixture.categorical._family import CategoricalContext
from tests import reference_categorical as ref

N_LEVELS = [3, 1, 6, 2, 4]


def _codes(rng, n_samples=600, n_components=3, n_levels=N_LEVELS):
    weights, probabilities = ref.random_params(rng, n_components, n_levels, 0.5)
    X, _ = ref.simulate(rng, n_samples, weights, probabilities)
    X[0] = np.asarray(n_levels) - 1  # every level is learned
    return X.astype(np.float64)


def _seed(rng):
    return int(rng.integers(2**31))


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


def _irregular_chunks(X, rng, weights=None):
    edges = np.sort(rng.choice(np.arange(1, X.shape[0]), size=9, replace=False))
    edges = [0, *edges, X.shape[0]]
    if weights is None:
        return [X[a:b] for a, b in zip(edges[:-1], edges[1:])]
    return [(X[a:b], weights[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def _assert_same_fit(ours, theirs, **tolerance):
    check = assert_allclose if tolerance else assert_array_equal
    check(ours.weights_, theirs.weights_, **tolerance)
    assert_array_equal(ours.n_levels_, theirs.n_levels_)
    for mine, other in zip(ours.probabilities_, theirs.probabilities_):
        check(mine, other, **tolerance)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 32)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


# --------------------------------------------------------------- input forms
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_chunked_and_memmap_fits_equal_the_in_memory_fit_bitwise(
    rng, small_chunks, tmp_path, init_params
):
    X = _codes(rng)
    weights = rng.uniform(0, 3, size=X.shape[0])
    kwargs = dict(n_components=3, init_params=init_params, random_state=_seed(rng))
    kwargs.update(max_iter=10)
    in_memory = _quiet(CategoricalMixture(**kwargs).fit, X, sample_weight=weights)
    chunks = _irregular_chunks(X, rng, weights)
    chunked = _quiet(CategoricalMixture(**kwargs).fit, lambda: iter(chunks))
    np.save(tmp_path / "X.npy", X)
    mapped = _quiet(
        CategoricalMixture(**kwargs).fit,
        np.load(tmp_path / "X.npy", mmap_mode="r"),
        sample_weight=weights,
    )
    for fitted in (chunked, mapped):
        _assert_same_fit(fitted, in_memory)
        assert fitted.lower_bounds_ == in_memory.lower_bounds_
    assert_array_equal(
        _quiet(CategoricalMixture(**kwargs).fit_predict, chunks),
        _quiet(CategoricalMixture(**kwargs).fit_predict, X, sample_weight=weights),
    )


def test_chunks_are_checked_on_every_read(rng):
    X = _codes(rng, n_samples=200)
    bad = X.copy()
    bad[130, 2] = 2.5
    with pytest.raises(ValueError, match=r"non-integer.*X\[130, 2\] = 2.5"):
        CategoricalMixture(2).fit([bad[:100], bad[100:]])
    reads = []

    def changing(value):  # valid codes on the first reads, another code later
        def source():
            reads.append(1)
            second = X[100:].copy()
            if len(reads) > 2:
                second[5, 0] = value
            return iter([X[:100], second])

        return source

    cm = CategoricalMixture(2, random_state=0).fit(X)
    probabilities = [p.copy() for p in cm.probabilities_]
    with pytest.raises(ValueError, match=r"Negative values.*X\[105, 0\] = -1.0"):
        cm.fit(changing(-1.0))
    reads.clear()
    with pytest.raises(ValueError, match="1 row.*beyond the levels.*every pass"):
        cm.fit(changing(7.0))  # a level the first reads did not show
    for ours, theirs in zip(cm.probabilities_, probabilities):
        assert_array_equal(ours, theirs)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_dask_fit_and_inference_equal_in_memory(rng):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    X = _codes(rng, n_samples=3000)
    weights = rng.uniform(0, 2, size=X.shape[0])
    # 30 iterations: on a slow ridge, rounding differences between block
    # orders grow with every iteration
    kwargs = dict(n_components=3, random_state=_seed(rng), tol=1e-8, max_iter=30)
    local = _quiet(CategoricalMixture(**kwargs).fit, X, sample_weight=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    with cluster, distributed.Client(cluster):
        remote = _quiet(
            CategoricalMixture(**kwargs).fit,
            da.from_array(X, chunks=700),
            sample_weight=da.from_array(weights, chunks=500),
        )
        assert remote.n_iter_ == local.n_iter_
        assert_allclose(remote.lower_bounds_, local.lower_bounds_, rtol=1e-10)
        # two near-identical classes amplify the order of the block sums
        _assert_same_fit(remote, local, rtol=1e-8, atol=1e-12)
        lazy = remote.predict_proba(da.from_array(X, chunks=1000))
        assert isinstance(lazy, da.Array)
        assert_allclose(
            lazy.compute(), remote.predict_proba(X), rtol=1e-12, atol=1e-300
        )
        bad = X.copy()
        bad[2345, 1] = -3.0
        with pytest.raises(ValueError, match=r"Negative values.*X\[2345, 1\] = -3.0"):
            CategoricalMixture(2).fit(da.from_array(bad, chunks=1000))
        beyond = X.copy()
        beyond[1234, 4] = 4.0
        with pytest.raises(ValueError, match=r"code 4 in column 4.*n_levels_\[4\] = 4"):
            remote.predict(da.from_array(beyond, chunks=1000)).compute()
        with pytest.raises(ValueError, match=r"n_levels_\[j\].*X\[1234, 4\] = 4"):
            remote.partial_fit(da.from_array(beyond, chunks=1000))


# -------------------------------------------------------------- partial_fit
def test_partial_fit_reaches_the_full_batch_likelihood(rng):
    X = _codes(rng, n_samples=20_000)
    full = CategoricalMixture(3, n_init=3, random_state=0).fit(X)
    best = -np.inf
    for seed in range(3):  # three starts, as the batch fit's n_init
        online = CategoricalMixture(3, n_levels=N_LEVELS, random_state=seed)
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], 500):
            online.partial_fit(X[order[start : start + 500]])
        best = max(best, online.score(X))
    gap = (full.score(X) - best) / abs(full.score(X))
    # both are local optima of random classes: over 12 seeds the gap ranged
    # from -0.7 % (online ahead) to 1.1 %
    assert gap < 0.02, gap
    assert online.n_iter_ == 40 and len(online.lower_bounds_) == 40
    batch = X[order[-500:]]
    assert_allclose(
        online.lower_bound_, np.mean(online.score_samples(batch)), rtol=0.05
    )


def test_partial_fit_continues_a_fit_and_keeps_its_levels(rng, tmp_path):
    X = _codes(rng)
    cm = _quiet(CategoricalMixture(3, tol=1e-12, max_iter=1000, random_state=0).fit, X)
    probabilities, n_iter = [p.copy() for p in cm.probabilities_], cm.n_iter_
    save_model(cm, tmp_path / "cm.json")
    loaded = load_model(tmp_path / "cm.json")
    # the running statistics a stream starts from give the fit back
    family = cm._family()
    params = family.params_from(cm)
    context = CategoricalContext(np.dtype(np.float64), NK_OFFSET, tuple(cm.n_levels_))
    again = family.stream_m_step(family.fitted_statistics(params, context), context, 0)
    assert_allclose(again.weights, params.weights, rtol=1e-13)
    assert_allclose(again.table, params.table, rtol=1e-12)
    for model in (cm, loaded):
        model.partial_fit(X)  # all the training rows: a converged fit stays
        # (near boundaries EM converges slowly: after 1000 iterations one more
        # step still moved a probability by 1.7e-6 on one draw of the codes)
        for ours, theirs in zip(model.probabilities_, probabilities):
            assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
        assert model.n_iter_ == n_iter + 1
    beyond = X[:50].copy()
    beyond[17, 2] = 6.0
    state = [p.copy() for p in cm.probabilities_]
    with pytest.raises(ValueError, match=r"fitted model's n_levels_.*X\[17, 2\] = 6"):
        cm.partial_fit(beyond)
    for ours, theirs in zip(cm.probabilities_, state):
        assert_array_equal(ours, theirs)
    # given levels leave room for codes the first batches do not show
    stream = CategoricalMixture(2, n_levels=[3, 1, 7, 2, 4], random_state=0)
    stream.partial_fit(X[:300])
    stream.partial_fit(beyond)
    assert stream.probabilities_[2][:, 6].max() > 1e-4


def test_warm_start_continues_and_keeps_the_levels(rng):
    X = _codes(rng, n_samples=300)
    kwargs = dict(n_components=3, random_state=_seed(rng), tol=0)
    cold = _quiet(CategoricalMixture(max_iter=6, **kwargs).fit, X)
    warm = CategoricalMixture(max_iter=3, warm_start=True, **kwargs)
    _quiet(warm.fit, X)
    _quiet(warm.fit, X)
    assert_allclose(warm.lower_bounds_, cold.lower_bounds_[3:], rtol=1e-12)
    _assert_same_fit(warm, cold, rtol=1e-12)
    beyond = X.copy()
    beyond[40, 0] = 3.0
    with pytest.raises(ValueError, match=r"n_levels_.*X\[40, 0\] = 3"):
        warm.fit(beyond)
    _assert_same_fit(warm, cold, rtol=1e-12)
    cold_again = clone(warm).set_params(warm_start=False)
    assert _quiet(cold_again.fit, beyond).n_levels_[0] == 4  # a new fit learns


def test_n_init_and_verbose(rng):
    X = _codes(rng, n_samples=300)
    buffer = io.StringIO()
    model = CategoricalMixture(3, n_init=3, verbose=2, verbose_interval=1)
    with redirect_stdout(buffer):
        _quiet(model.set_params(random_state=0).fit, X)
    assert buffer.getvalue().count("Initialization") >= 6  # begin and end of 3
    assert "time lapse" in buffer.getvalue()
    single = _quiet(CategoricalMixture(3, random_state=0).fit, X)
    assert model.lower_bound_ >= single.lower_bound_


def test_fit_memory_does_not_grow_with_samples_times_components(rng):
    n_samples, n_components = 100_000, 32
    X = rng.integers(0, 4, size=(2 * n_samples, 3)).astype(np.float64)
    cm = CategoricalMixture(n_components, random_state=0, max_iter=3, tol=0)
    peaks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cm.fit(X[:1000])  # compile outside the measurement
        for rows in (n_samples, 2 * n_samples):
            X_rows = np.ascontiguousarray(X[:rows])
            tracemalloc.start()
            try:
                cm.fit(X_rows)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
    n_by_k = n_samples * n_components * 8  # one (n, K) float64 array
    assert peaks[1] - peaks[0] < n_by_k / 20, (peaks, n_by_k)


# --------------------------------------------------------------- model files
@pytest.mark.parametrize("n_levels", [None, 7, [3, 2, 6, 2, 5]], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_files_round_trip(rng, tmp_path, dtype, n_levels):
    X = _codes(rng).astype(dtype)
    cm = CategoricalMixture(3, n_levels=n_levels, random_state=_seed(rng)).fit(X)
    save_model(cm, tmp_path / "cm.json")
    loaded = load_model(tmp_path / "cm.json")
    _assert_same_fit(loaded, cm)
    assert loaded.weights_.dtype == dtype
    assert all(p.dtype == dtype for p in loaded.probabilities_)
    assert loaded.n_levels_.dtype == np.int64
    assert_array_equal(loaded.predict_proba(X), cm.predict_proba(X))
    assert loaded.lower_bounds_ == cm.lower_bounds_
    if n_levels is None:
        assert loaded.n_levels is None
    else:  # a list is stored as an array
        assert_array_equal(loaded.n_levels, n_levels)
    stored = json.loads((tmp_path / "cm.json").read_text())["fitted"]
    assert [a["shape"] for a in stored["probabilities_"]] == [
        [3, n] for n in cm.n_levels_
    ]


def _edit(path, change):
    document = json.loads(path.read_text())
    change(document["fitted"])
    path.write_text(json.dumps(document))
    return path


def _set(index, row, col, value):
    def change(fitted):
        fitted["probabilities_"][index]["data"][row][col] = value

    return change


def _scale_row(fitted):
    data = fitted["probabilities_"][1]["data"]
    data[2] = [1.01 * v for v in data[2]]


def _drop_level(fitted):
    array = fitted["probabilities_"][2]
    array["data"] = [row[:-1] for row in array["data"]]
    array["shape"][1] -= 1


BAD_FILES = {
    "negative": (_set(0, 1, 0, -0.1), r"probabilities_\[0\] holds negative values"),
    "row sum": (_scale_row, r"probabilities_\[1\] row 2 sums to 1.01, not 1"),
    "nan": (_set(3, 0, 0, "nan"), r"probabilities_\[3\] holds non-finite"),
    "not a list": (
        lambda f: f.update(probabilities_=f["probabilities_"][0]),
        "must be a list of 5 arrays",
    ),
    "one array short": (
        lambda f: f["probabilities_"].pop(),
        "must be a list of 5 arrays",
    ),
    "width": (
        _drop_level,
        r"probabilities_\[2\] has shape \(3, 5\), expected \(3, 6\)",
    ),
    "weights": (
        lambda f: f["weights_"]["data"].__setitem__(0, 2.0),
        "weights_ sum to",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_impossible_values_are_refused(rng, tmp_path, case):
    change, message = BAD_FILES[case]
    X = _codes(rng)
    given = case == "width"  # the widths are known when the levels are given
    cm = CategoricalMixture(3, n_levels=N_LEVELS if given else None, random_state=0)
    save_model(cm.fit(X), tmp_path / "cm.json")
    with pytest.raises(ValueError, match="cannot load model from") as info:
        load_model(_edit(tmp_path / "cm.json", change))
    assert info.match(message)
