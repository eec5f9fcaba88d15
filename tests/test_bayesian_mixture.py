"""emfast's BayesianGaussianMixture against scikit-learn's."""

import copy
import io
import pickle
import tracemalloc
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

import emfast
from emfast import _chunks
from emfast.mixture.bayesian import BayesianGaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]
FITTED = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
]
PRIORS = [
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "mean_prior_",
    "degrees_of_freedom_prior_",
    "covariance_prior_",
]


def _blobs(rng, n_samples=300, n_features=3, n_components=3, dtype=np.float64):
    """Well-separated clusters: variational paths are well conditioned."""
    while True:
        centers = rng.normal(scale=6.0, size=(n_components, n_features))
        gaps = np.linalg.norm(centers[:, None] - centers[None], axis=2)
        if np.all(gaps[np.triu_indices(n_components, 1)] > 6.0):
            break
    labels = rng.integers(n_components, size=n_samples)
    scales = rng.uniform(0.5, 1.5, size=(n_components, n_features))
    X = centers[labels] + rng.normal(size=(n_samples, n_features)) * scales[labels]
    return X.astype(dtype)


def _seed(rng):
    return int(rng.integers(2**31))


def _flat(value):
    """An attribute as one flat array (a pair of arrays is concatenated)."""
    parts = value if isinstance(value, tuple) else (value,)
    return np.concatenate([np.ravel(part) for part in parts])


def _concentrations(model):
    """``weight_concentration_`` as one flat array."""
    return _flat(model.weight_concentration_)


def _assert_same_fit(ours, theirs, rtol=1e-8):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    # scikit-learn's tied bounds are arrays of shape (1,)
    their_bounds = np.array(theirs.lower_bounds_, dtype=float).ravel()
    assert_allclose(ours.lower_bounds_, their_bounds, rtol=rtol)
    assert_allclose(ours.lower_bound_, np.ravel(theirs.lower_bound_)[0], rtol=rtol)
    for name in FITTED + PRIORS:
        ours_value, their_value = getattr(ours, name), getattr(theirs, name)
        atol = 1e-10 * np.max(np.abs(their_value))
        assert_allclose(ours_value, their_value, rtol=rtol, atol=atol, err_msg=name)
    assert_allclose(_concentrations(ours), _concentrations(theirs), rtol=rtol)


@parametrize_with_checks([BayesianGaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_seed_same_path_as_sklearn(rng, covariance_type, prior_type, init_params):
    X = _blobs(rng)
    kwargs = dict(
        n_components=4,  # one more than there are clusters
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        random_state=_seed(rng),
        tol=1e-6,
        max_iter=60,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**kwargs).fit(X)
        theirs = SkBayesianGaussianMixture(**kwargs).fit(X)
    _assert_same_fit(ours, theirs)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_priors_same_path_as_sklearn(rng, covariance_type, prior_type):
    X = _blobs(rng, n_features=2)
    covariance_prior = {
        "full": np.array([[2.0, 0.3], [0.3, 1.0]]),
        "tied": np.array([[2.0, 0.3], [0.3, 1.0]]),
        "diag": np.array([2.0, 0.5]),
        "spherical": 1.5,
    }[covariance_type]
    kwargs = dict(
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        weight_concentration_prior=rng.uniform(0.01, 10),
        mean_precision_prior=rng.uniform(0.01, 2),
        mean_prior=rng.normal(size=2),
        degrees_of_freedom_prior=rng.uniform(1.5, 5),
        covariance_prior=covariance_prior,
        init_params="random",
        random_state=_seed(rng),
        max_iter=40,
        tol=1e-6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**kwargs).fit(X)
        theirs = SkBayesianGaussianMixture(**kwargs).fit(X)
    _assert_same_fit(ours, theirs)


def test_max_iter_zero_keeps_the_init_like_sklearn(rng):
    X = _blobs(rng)
    kwargs = dict(n_components=3, max_iter=0, n_init=2, random_state=_seed(rng))
    ours = BayesianGaussianMixture(**kwargs).fit(X)
    theirs = SkBayesianGaussianMixture(**kwargs).fit(X)
    _assert_same_fit(ours, theirs)
    assert ours.lower_bound_ == -np.inf and ours.lower_bounds_ == []


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_inference_equals_sklearn_on_same_parameters(rng, covariance_type, prior_type):
    X = _blobs(rng)
    kwargs = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=_seed(rng),
    )
    theirs = SkBayesianGaussianMixture(**kwargs).fit(X)
    ours = BayesianGaussianMixture(**kwargs)
    ours._set_parameters(theirs._get_parameters())
    ours.n_features_in_ = X.shape[1]
    X_new = X + rng.normal(size=X.shape)
    assert_allclose(
        ours.score_samples(X_new), theirs.score_samples(X_new), rtol=1e-10, atol=1e-13
    )
    assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new), atol=1e-10)
    assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
    assert_allclose(ours.score(X_new), theirs.score(X_new), rtol=1e-12)
    assert_allclose(ours.weights_, theirs.weights_, rtol=1e-12)
    assert_allclose(ours.precisions_, theirs.precisions_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_equals_sklearn(rng, covariance_type):
    X = _blobs(rng)
    kwargs = dict(n_components=3, covariance_type=covariance_type)
    seed = _seed(rng)
    ours = BayesianGaussianMixture(**kwargs, random_state=seed).fit(X)
    theirs = SkBayesianGaussianMixture(**kwargs, random_state=seed).fit(X)
    X_ours, y_ours = ours.sample(300)
    X_theirs, y_theirs = theirs.sample(300)
    assert_array_equal(y_ours, y_theirs)
    assert_allclose(X_ours, X_theirs, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(rng, covariance_type, prior_type):
    """Same start; weight 0 drops a row, weight m repeats it m times."""
    X = _blobs(rng, n_samples=200)
    weights = rng.integers(0, 4, size=X.shape[0])
    X_repeated = np.repeat(X, weights, axis=0)
    kwargs = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=_seed(rng),
        max_iter=0,
    )
    start = BayesianGaussianMixture(**kwargs).fit(X_repeated)
    start.set_params(warm_start=True, max_iter=20, tol=0)
    repeated, weighted = copy.deepcopy(start), copy.deepcopy(start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        repeated.fit(X_repeated)
        labels = weighted.fit_predict(X, sample_weight=weights)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-9)
    for name in FITTED + PRIORS:
        assert_allclose(
            getattr(weighted, name),
            getattr(repeated, name),
            rtol=1e-8,
            atol=1e-12,
            err_msg=name,
        )
    assert_array_equal(labels, repeated.predict(X))
    assert_allclose(
        weighted.score(X, sample_weight=weights),
        repeated.score(X_repeated),
        rtol=1e-12,
    )


def test_unit_weights_equal_no_weights(rng):
    X = _blobs(rng)
    kwargs = dict(n_components=4, init_params="random", random_state=_seed(rng))
    plain = BayesianGaussianMixture(**kwargs).fit(X)
    weighted = BayesianGaussianMixture(**kwargs).fit(X, sample_weight=np.ones(len(X)))
    assert_allclose(weighted.lower_bounds_, plain.lower_bounds_, rtol=1e-12)
    for name in FITTED + PRIORS:
        assert_allclose(getattr(weighted, name), getattr(plain, name), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_stays_float32_and_matches_float64(rng, covariance_type):
    X = _blobs(rng, n_samples=1000, n_features=4)
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=_seed(rng),
        tol=1e-4,
        max_iter=300,
    )
    fit64 = BayesianGaussianMixture(**kwargs).fit(X)
    fit32 = BayesianGaussianMixture(**kwargs).fit(X.astype(np.float32))
    for name in FITTED + ["mean_prior_", "covariance_prior_"]:
        assert np.asarray(getattr(fit32, name)).dtype == np.float32, name
    assert _concentrations(fit32).dtype == np.float32
    assert isinstance(fit32.lower_bound_, float)
    X32 = X.astype(np.float32)
    assert fit32.score_samples(X32).dtype == np.float32
    assert fit32.predict_proba(X32).dtype == np.float32
    assert_allclose(fit32.lower_bound_, fit64.lower_bound_, rtol=1e-5)
    assert_allclose(fit32.means_, fit64.means_, rtol=1e-3, atol=1e-3)
    # both stop once the bound gains less than tol: a slowly draining component
    # may still move its weight by about 1e-4 per iteration
    assert_allclose(fit32.weights_, fit64.weights_, atol=5e-4)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_pickle_round_trip(rng, prior_type):
    X = _blobs(rng, dtype=np.float32)
    model = BayesianGaussianMixture(
        n_components=3, weight_concentration_prior_type=prior_type, random_state=0
    ).fit(X)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.get_params() == model.get_params()
    for name in FITTED + PRIORS + ["lower_bound_", "n_iter_", "lower_bounds_"]:
        assert_array_equal(getattr(clone, name), getattr(model, name))
    assert_array_equal(_concentrations(clone), _concentrations(model))
    assert_array_equal(clone.predict_proba(X), model.predict_proba(X))


def test_warm_start_continues_like_sklearn(rng):
    X = _blobs(rng)
    kwargs = dict(n_components=4, warm_start=True, max_iter=2, random_state=_seed(rng))
    ours = BayesianGaussianMixture(**kwargs)
    theirs = SkBayesianGaussianMixture(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
            _assert_same_fit(ours, theirs)


def test_bit_identical_with_one_and_two_threads(rng, monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 4)
    X = _blobs(rng, n_samples=2000, n_features=4)
    kwargs = dict(n_components=4, init_params="random", random_state=_seed(rng))
    fits = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            model = BayesianGaussianMixture(**kwargs, max_iter=5, tol=0)
            with pytest.warns(ConvergenceWarning):
                model.fit(X)
            fits.append((model, model.score_samples(X)))
    (one, scores_one), (two, scores_two) = fits
    for name in FITTED:
        assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert one.lower_bounds_ == two.lower_bounds_
    assert_array_equal(scores_one, scores_two)


def test_collapsed_component_raises_like_sklearn_and_keeps_model(rng):
    """A singular covariance prior and reg_covar=0: scikit-learn's error, no change."""
    good = _blobs(rng, n_samples=60)
    degenerate = np.vstack([np.ones((5, 3)), np.zeros((5, 3))])
    params = dict(n_components=4, reg_covar=0, random_state=0)
    model = BayesianGaussianMixture(**params).fit(good)
    before = {k: copy.deepcopy(v) for k, v in vars(model).items() if k.endswith("_")}

    with pytest.raises(ValueError) as sklearn_error:
        SkBayesianGaussianMixture(**params).fit(degenerate)
    with pytest.raises(ValueError) as our_error:
        model.fit(degenerate)
    assert str(our_error.value) == str(sklearn_error.value)
    assert "ill-defined empirical covariance" in str(our_error.value)
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert_array_equal(_flat(after[name]), _flat(value), err_msg=name)


def _errors(X, settings, method="fit", **fit_kwargs):
    """``(ours, theirs)``: the exceptions both estimators raise."""
    raised = []
    for cls in (BayesianGaussianMixture, SkBayesianGaussianMixture):
        with pytest.raises(Exception) as error:
            getattr(cls(**settings), method)(X, **fit_kwargs)
        raised.append(error.value)
    return raised


@pytest.mark.parametrize(
    "settings",
    [
        dict(covariance_type="bad"),
        dict(weight_concentration_prior_type="finite"),
        dict(weight_concentration_prior=0.0),
        dict(mean_precision_prior=-1.0),
        dict(degrees_of_freedom_prior=0.5),
        dict(mean_prior=[0.0, 1.0]),
        dict(covariance_prior=np.eye(2)),
        dict(covariance_prior=-np.eye(3)),
        dict(covariance_type="diag", covariance_prior=[1.0, -1.0, 1.0]),
        dict(covariance_type="diag", covariance_prior=[1.0, 1.0]),
        dict(n_components=50),
        dict(n_init=0),
    ],
    ids=lambda settings: ",".join(settings),
)
def test_bad_parameters_raise_like_sklearn(rng, settings):
    X = _blobs(rng, n_samples=30)
    ours, theirs = _errors(X, settings)
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)


@pytest.mark.parametrize(
    "bad_X",
    [
        np.array([[1.0, np.nan], [2.0, 3.0], [3.0, 1.0]]),
        np.array([[1.0, np.inf], [2.0, 3.0], [3.0, 1.0]]),
        np.array([[1.0, 2.0]]),
        np.array([1.0, 2.0, 3.0]),
        [["a", "b"], ["c", "d"]],
    ],
    ids=["nan", "inf", "one-row", "1-d", "strings"],
)
def test_bad_input_raises_like_sklearn(bad_X):
    ours, theirs = _errors(bad_X, {})
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)


def test_predicting_with_other_feature_count_raises_like_sklearn(rng):
    X = _blobs(rng, n_samples=50)
    ours = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    theirs = SkBayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError) as our_error:
            getattr(ours, method)(X[:, :2])
        with pytest.raises(ValueError) as their_error:
            getattr(theirs, method)(X[:, :2])
        assert str(our_error.value) == str(their_error.value)


@pytest.mark.parametrize(
    "sample_weight, message",
    [
        (-np.ones(30), "Negative values in data passed to `sample_weight`"),
        (np.ones(29), r"sample_weight.shape == \(29,\), expected \(30,\)"),
        (np.zeros(30), "at least one non-zero"),
    ],
    ids=["negative", "length", "all-zero"],
)
def test_bad_sample_weight_raises(rng, sample_weight, message):
    X = _blobs(rng, n_samples=30)
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(n_components=2).fit(X, sample_weight=sample_weight)


def test_weights_summing_to_one_need_a_covariance_prior(rng):
    """The default prior is the sample covariance: weights count rows (ddof=1)."""
    X = _blobs(rng, n_samples=30)
    weights = np.full(30, 1 / 30)
    model = BayesianGaussianMixture(n_components=2, random_state=0)
    with pytest.raises(ValueError, match="sum to more than 1"):
        model.fit(X, sample_weight=weights)
    assert not hasattr(model, "covariance_prior_")
    model.set_params(covariance_prior=np.eye(3)).fit(X, sample_weight=weights)
    assert_allclose(model.weights_.sum(), 1.0)


def test_verbose_output_matches_sklearn(rng):
    X = _blobs(rng)
    outputs = []
    for cls in (BayesianGaussianMixture, SkBayesianGaussianMixture):
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            cls(
                n_components=3, verbose=1, verbose_interval=1, n_init=2, random_state=0
            ).fit(X)
        outputs.append(buffer.getvalue())
    assert outputs[0] == outputs[1]
    assert "Initialization 1" in outputs[0] and "Iteration 2" in outputs[0]


def test_fit_memory_does_not_grow_with_samples_times_components(rng):
    """Fit memory is O(block x K + K D^2): doubling n_samples adds ~nothing."""
    n_samples, n_components = 100_000, 32
    X = rng.normal(size=(2 * n_samples, 2))
    X[:, 0] += 4 * rng.integers(n_components, size=2 * n_samples)
    model = BayesianGaussianMixture(
        n_components=n_components,
        init_params="random_from_data",
        random_state=0,
        max_iter=3,
        tol=0,
    )
    peaks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:1000])  # compile outside the measurement
        for rows in (n_samples, 2 * n_samples):
            X_rows = np.ascontiguousarray(X[:rows])
            tracemalloc.start()
            try:
                model.fit(X_rows)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
    n_by_k = n_samples * n_components * 8  # what one (n, K) float64 array takes
    assert peaks[1] - peaks[0] < n_by_k / 20, (peaks, n_by_k)
