"""Every family gets everything: input forms, partial_fit, n_init, warm starts,
verbose output and model files, for GaussianMixture, BayesianGaussianMixture and
PoissonMixture alike (Dask input: tests/test_dask.py)."""

import io
import json
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from emfast import (
    BayesianGaussianMixture,
    GaussianMixture,
    PoissonMixture,
    _chunks,
    load_model,
    save_model,
)
from emfast.mixture.bayesian._family import VariationalContext
from emfast.mixture.bayesian._priors import Priors

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
GAUSSIAN = ["weights_", "means_", "covariances_", "precisions_cholesky_"]
VARIATIONAL = [*GAUSSIAN, "mean_precision_", "degrees_of_freedom_"]


def _blobs(rng, n_samples=600, n_features=3):
    centers = 8.0 * np.eye(3, n_features)
    return centers[rng.integers(3, size=n_samples)] + rng.normal(
        size=(n_samples, n_features)
    )


def _counts(rng, n_samples=600):
    rates = np.array([[2.0, 9.0, 1.0], [12.0, 3.0, 6.0], [5.0, 5.0, 15.0]])
    return rng.poisson(rates[rng.integers(3, size=n_samples)]).astype(float)


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


def _seed(rng):
    return int(rng.integers(2**31))


def _irregular_chunks(X, rng, weights=None):
    edges = np.sort(rng.choice(np.arange(1, X.shape[0]), size=9, replace=False))
    edges = [0, *edges, X.shape[0]]
    if weights is None:
        return [X[a:b] for a, b in zip(edges[:-1], edges[1:])]
    return [(X[a:b], weights[a:b]) for a, b in zip(edges[:-1], edges[1:])]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 32)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


def _as_float64(value):
    if isinstance(value, tuple):
        return tuple(np.asarray(v, dtype=np.float64) for v in value)
    return np.asarray(value, dtype=np.float64)


def _flat(value):
    """A Dirichlet process's concentrations are a pair of arrays."""
    return np.concatenate(value) if isinstance(value, tuple) else value


# ------------------------------------------------ PoissonMixture input forms
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_poisson_chunked_and_memmap_fits_equal_the_in_memory_fit_bitwise(
    rng, small_chunks, tmp_path, init_params
):
    X = _counts(rng)
    weights = rng.uniform(0, 3, size=X.shape[0])
    kwargs = dict(n_components=3, init_params=init_params, random_state=_seed(rng))
    kwargs.update(max_iter=10)
    in_memory = _quiet(PoissonMixture(**kwargs).fit, X, sample_weight=weights)
    chunks = _irregular_chunks(X, rng, weights)
    chunked = _quiet(PoissonMixture(**kwargs).fit, lambda: iter(chunks))
    np.save(tmp_path / "X.npy", X)
    mapped = _quiet(
        PoissonMixture(**kwargs).fit,
        np.load(tmp_path / "X.npy", mmap_mode="r"),
        sample_weight=weights,
    )
    for fitted in (chunked, mapped):
        assert_array_equal(fitted.weights_, in_memory.weights_)
        assert_array_equal(fitted.rates_, in_memory.rates_)
        assert fitted.lower_bounds_ == in_memory.lower_bounds_
    assert_array_equal(
        _quiet(PoissonMixture(**kwargs).fit_predict, chunks),
        _quiet(PoissonMixture(**kwargs).fit_predict, X, sample_weight=weights),
    )


def test_poisson_chunks_are_checked_as_counts_on_every_read(rng):
    X = _counts(rng, n_samples=200)
    bad = X.copy()
    bad[130, 2] = 2.5
    with pytest.raises(ValueError, match=r"non-integer.*X\[130, 2\] = 2.5"):
        PoissonMixture(2, init_params="random").fit([bad[:100], bad[100:]])
    reads = []

    def changing():  # counts on the first read, a negative value later
        reads.append(1)
        second = X[100:].copy()
        if len(reads) > 1:
            second[5, 0] = -1.0
        return iter([X[:100], second])

    pm = PoissonMixture(2, random_state=0).fit(X)
    rates = pm.rates_.copy()
    with pytest.raises(ValueError, match=r"Negative values.*X\[105, 0\] = -1.0"):
        pm.set_params(init_params="random").fit(changing)
    assert_array_equal(pm.rates_, rates)


# -------------------------------------------------------------- partial_fit
def test_poisson_partial_fit_reaches_the_full_batch_likelihood(rng):
    X = _counts(rng, n_samples=20_000)
    full = PoissonMixture(3, random_state=0).fit(X)
    online = PoissonMixture(3, random_state=0)
    order = rng.permutation(X.shape[0])
    for start in range(0, X.shape[0], 500):
        online.partial_fit(X[order[start : start + 500]])
    gap = (full.score(X) - online.score(X)) / abs(full.score(X))
    assert gap < 0.01, gap
    assert online.n_iter_ == 40 and len(online.lower_bounds_) == 40
    batch = X[order[-500:]]
    assert_allclose(
        online.lower_bound_, np.mean(online.score_samples(batch)), rtol=0.05
    )


def test_poisson_partial_fit_continues_a_fit_and_weights_repeat_rows(rng, tmp_path):
    X = _counts(rng)
    pm = PoissonMixture(3, tol=1e-12, max_iter=1000, random_state=0).fit(X)
    rates, n_iter = pm.rates_.copy(), pm.n_iter_
    save_model(pm, tmp_path / "pm.json")
    loaded = load_model(tmp_path / "pm.json")
    for model in (pm, loaded):
        model.partial_fit(X)  # all the training rows: a converged fit stays
        assert_allclose(model.rates_, rates, rtol=1e-7)
        assert model.n_iter_ == n_iter + 1
    counts = rng.integers(0, 4, size=X.shape[0])
    start = PoissonMixture(3, random_state=1)
    start.partial_fit(X[:300], sample_weight=counts[:300])
    # both continue from the same parameters (k-means on weighted rows and on
    # repeated rows may start differently)
    path = _saved(start, tmp_path / "w.json")
    weighted, repeated = load_model(path), load_model(path)
    for model, batch in (
        (weighted, dict(X=X[300:], sample_weight=counts[300:])),
        (repeated, dict(X=np.repeat(X[300:], counts[300:], axis=0))),
    ):
        model.partial_fit(**batch, decay=0.7)
    assert_allclose(weighted.rates_, repeated.rates_, rtol=1e-10)
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-10)


def _saved(model, path):
    save_model(model, path)
    return path


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_partial_fit_converges_near_the_full_batch_fit(rng, covariance_type):
    """Stochastic variational inference over one shuffled pass of batches: the
    data size is the weight seen, which ends at the data set's size."""
    X = _blobs(rng, n_samples=20_000)
    kwargs = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    full = BayesianGaussianMixture(**kwargs, max_iter=500).fit(X)
    online = BayesianGaussianMixture(**kwargs)
    order = rng.permutation(X.shape[0])
    for start in range(0, X.shape[0], 500):
        online.partial_fit(X[order[start : start + 500]])
    gap = (full.score(X) - online.score(X)) / abs(full.score(X))
    assert gap < 0.01, gap
    means = online.means_[np.argsort(online.means_ @ [1.0, 2.0, 4.0])]
    expected = full.means_[np.argsort(full.means_ @ [1.0, 2.0, 4.0])]
    assert_allclose(means, expected, atol=0.1)
    # the posterior stands for the rows seen: 20000 = sum of (beta_k - beta_0)
    assert_allclose(online.mean_precision_.sum() - 3.0, 20_000, rtol=1e-9)
    assert online.n_iter_ == 40 and len(online.lower_bounds_) == 40


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_stream_starts_from_the_statistics_of_the_fit(
    rng, covariance_type, prior_type
):
    """A fitted posterior's statistics give it back under the scaled update,
    and a batch of all the training rows leaves a converged fit nearly in place."""
    X = _blobs(rng)
    bgm = BayesianGaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    ).fit(X)
    family = bgm._family()
    params = type(bgm._get_parameters())(
        *(_as_float64(value) for value in bgm._get_parameters())
    )
    context = VariationalContext(
        np.dtype(np.float64), 1e-15, Priors.from_attributes(bgm)
    )
    running = family.fitted_statistics(params, context)
    again = family.stream_m_step(running, context, family.fitted_weight(bgm))
    for name, ours, theirs in zip(params._fields, again, params):
        assert_allclose(_flat(ours), _flat(theirs), rtol=1e-9, err_msg=name)
    fitted = {name: np.copy(_flat(getattr(bgm, name))) for name in VARIATIONAL}
    bgm.partial_fit(X[rng.permutation(X.shape[0])])
    # the data count twice now: precisions and degrees of freedom grow, the
    # means and covariances stay
    assert_allclose(bgm.means_, fitted["means_"], atol=0.05)
    beta_sum = fitted["mean_precision_"].sum()  # 3 beta_0 + n_samples
    assert_allclose(bgm.mean_precision_.sum(), 2 * beta_sum - 3.0, rtol=1e-9)


@pytest.mark.parametrize(
    "form", ["chunks", "callable", "memmap"], ids=["list", "callable", "memmap"]
)
def test_gaussian_partial_fit_takes_every_input_form(rng, tmp_path, small_chunks, form):
    X = _blobs(rng, n_samples=500)
    batches = np.array_split(X, 3)
    reference, ours = GaussianMixture(3, random_state=0), GaussianMixture(3)
    ours.set_params(random_state=0, init_params="random_from_data")
    reference.set_params(init_params="random_from_data")
    for i, batch in enumerate(batches):
        reference.partial_fit(batch)
        if form == "memmap":
            np.save(tmp_path / f"{i}.npy", batch)
            given = np.load(tmp_path / f"{i}.npy", mmap_mode="r")
        else:
            chunks = _irregular_chunks(batch, rng)
            given = chunks if form == "chunks" else (lambda c=chunks: iter(c))
        ours.partial_fit(given)
        for name in GAUSSIAN:
            assert_array_equal(getattr(ours, name), getattr(reference, name), name)
    assert ours.lower_bounds_ == reference.lower_bounds_


# ------------------------------------- n_init, warm starts, verbose, failures
def _estimators(rng):
    X, counts = _blobs(rng, n_samples=300), _counts(rng, n_samples=300)
    return [
        (GaussianMixture(3, random_state=0), X),
        (BayesianGaussianMixture(n_components=3, random_state=0), X),
        (PoissonMixture(3, random_state=0), counts),
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["gaussian", "bayesian", "poisson"])
def test_n_init_warm_start_and_verbose_for_every_family(rng, which):
    model, X = _estimators(rng)[which]
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        _quiet(model.set_params(n_init=3, verbose=2, verbose_interval=1).fit, X)
    assert buffer.getvalue().count("Initialization") >= 6  # begin and end of 3
    assert "time lapse" in buffer.getvalue()
    # n_init keeps the best of its starts, the first of which is n_init=1's
    single = _quiet(
        type(model)(**{**model.get_params(), "n_init": 1, "verbose": 0}).fit, X
    )
    assert model.lower_bound_ >= single.lower_bound_
    cold = _quiet(model.set_params(n_init=1, verbose=0, max_iter=6, tol=0).fit, X)
    cold_bounds = list(cold.lower_bounds_)
    warm = type(model)(**{**model.get_params(), "max_iter": 3, "warm_start": True})
    _quiet(warm.fit, X)
    _quiet(warm.fit, X)
    assert_allclose(warm.lower_bounds_, cold_bounds[3:], rtol=1e-12)
    state = {name: np.copy(_flat(value)) for name, value in vars(warm).items()
             if name.endswith("_") and not name.startswith("_")}  # fmt: skip
    with pytest.raises(ValueError):
        warm.fit(X[:, :2])
    for name, value in state.items():
        assert_array_equal(_flat(getattr(warm, name)), value, err_msg=name)


# --------------------------------------------------------------- model files
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_model_files_round_trip(
    rng, tmp_path, covariance_type, prior_type, dtype
):
    X = _blobs(rng, n_samples=200).astype(dtype)
    bgm = _quiet(
        BayesianGaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type,
            mean_prior=np.zeros(3),
            random_state=_seed(rng),
        ).fit,
        X,
    )
    loaded = load_model(_saved(bgm, tmp_path / "bgm.json"))
    for name in [*VARIATIONAL, "weight_concentration_", "precisions_", "mean_prior_",
                 "covariance_prior_", "degrees_of_freedom_prior_"]:  # fmt: skip
        ours, theirs = getattr(loaded, name), getattr(bgm, name)
        assert type(ours) is type(theirs) or np.ndim(theirs) == 0, name
        assert_array_equal(_flat(ours), _flat(theirs), err_msg=name)
    assert_array_equal(loaded.predict_proba(X), bgm.predict_proba(X))
    assert loaded.get_params().keys() == bgm.get_params().keys()
    loaded.partial_fit(X)  # a loaded posterior continues
    assert loaded.n_iter_ == bgm.n_iter_ + 1


def test_poisson_model_files_round_trip(rng, tmp_path):
    X = _counts(rng)
    for dtype in (np.float64, np.float32):
        pm = PoissonMixture(3, random_state=_seed(rng)).fit(X.astype(dtype))
        loaded = load_model(_saved(pm, tmp_path / "pm.json"))
        assert_array_equal(loaded.rates_, pm.rates_)
        assert loaded.rates_.dtype == dtype
        assert_array_equal(loaded.predict_proba(X), pm.predict_proba(X))


def _tampered(path, name, change):
    document = json.loads(path.read_text())
    array = np.array(document["fitted"][name]["data"], dtype=float)
    change(array)
    document["fitted"][name]["data"] = array.tolist()
    path.write_text(json.dumps(document))
    return path


def _scale(factor):
    def change(array):
        array.reshape(-1)[0] *= factor

    return change


BAD_BAYESIAN = {
    "weights off": ("weights_", _scale(1.5), "weights_"),
    "negative concentration": ("weight_concentration_", _scale(-1), "positive"),
    "concentration": ("weight_concentration_", _scale(3), "disagrees"),
    "mean precision": ("mean_precision_", lambda a: a.fill(0.5), "below the prior"),
    "degrees of freedom": ("degrees_of_freedom_", lambda a: a.fill(1.0), "greater"),
    "covariance prior": ("covariance_prior_", lambda a: a.fill(-1.0), "definite"),
    "factor": ("precisions_cholesky_", _scale(1.01), "disagrees"),
}


@pytest.mark.parametrize("case", BAD_BAYESIAN)
def test_impossible_bayesian_values_are_refused(rng, tmp_path, case):
    name, change, message = BAD_BAYESIAN[case]
    bgm = _quiet(
        BayesianGaussianMixture(n_components=3, random_state=0).fit, _blobs(rng)
    )
    path = _tampered(_saved(bgm, tmp_path / "bgm.json"), name, change)
    with pytest.raises(ValueError, match=message):
        load_model(path)


@pytest.mark.parametrize(
    "name, change, message",
    [
        ("rates_", _scale(-1), "below"),
        ("rates_", lambda a: a.fill(1e-12), "below"),
        ("weights_", _scale(-1), "negative"),
        ("weights_", _scale(2), "sum to"),
    ],
)
def test_impossible_poisson_values_are_refused(rng, tmp_path, name, change, message):
    pm = PoissonMixture(3, random_state=0).fit(_counts(rng))
    path = _tampered(_saved(pm, tmp_path / "pm.json"), name, change)
    with pytest.raises(ValueError, match=message):
        load_model(path)
