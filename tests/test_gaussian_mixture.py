"""emfast.GaussianMixture against scikit-learn and the numpy reference."""

import io
import pickle
import tracemalloc
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

import emfast
from emfast import GaussianMixture, _chunks

from . import reference

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]
FITTED = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


def _blobs(rng, n_samples=400, n_features=3, n_components=3, dtype=np.float64):
    """Well-separated clusters: EM paths are well conditioned."""
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


@parametrize_with_checks([GaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_seed_same_em_path_as_sklearn(rng, covariance_type, init_params):
    X = _blobs(rng)
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=1e-8,
        init_params=init_params,
        random_state=_seed(rng),
        max_iter=60,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**kwargs).fit(X)
        theirs = SkGaussianMixture(**kwargs).fit(X)

    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    # k-means++ and random_from_data start each component on one row with
    # variance reg_covar; scikit-learn's uncentred formula adds eps * x^2 of noise
    # to it (1e-7 relative here) which emfast's centred one does not, so only the
    # first bound may differ by more than rounding.
    first_rtol = 1e-8 if init_params in ("kmeans", "random") else 1e-6
    assert_allclose(ours.lower_bounds_[0], theirs.lower_bounds_[0], rtol=first_rtol)
    assert_allclose(ours.lower_bounds_[1:], theirs.lower_bounds_[1:], rtol=1e-8)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-8)
    for name in FITTED:
        assert_allclose(
            getattr(ours, name),
            getattr(theirs, name),
            rtol=1e-8,
            atol=1e-10,
            err_msg=name,
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_iteration_equals_reference_em_step(rng, covariance_type):
    X = _blobs(rng, n_samples=300)
    weights, means, precisions_chol = reference.random_params(
        rng, 3, X.shape[1], covariance_type
    )
    precisions = GaussianMixture(3, covariance_type=covariance_type)
    precisions._set_parameters((weights, means, None, precisions_chol))
    gm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        max_iter=1,
        reg_covar=1e-3,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions.precisions_,
    )
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    (ref_weights, ref_means, ref_chol), log_lik, ref_cov = reference.em_step(
        X, (weights, means, precisions_chol), 1e-3, covariance_type
    )
    assert_allclose(gm.lower_bound_, log_lik, rtol=1e-10)
    assert_allclose(gm.weights_, ref_weights, rtol=1e-10, atol=1e-13)
    assert_allclose(gm.means_, ref_means, rtol=1e-10, atol=1e-12)
    assert_allclose(gm.covariances_, ref_cov, rtol=1e-9)
    assert_allclose(gm.precisions_cholesky_, ref_chol, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_inference_equals_sklearn_on_same_parameters(rng, covariance_type):
    X = _blobs(rng)
    theirs = SkGaussianMixture(
        3, covariance_type=covariance_type, random_state=_seed(rng)
    ).fit(X)
    ours = GaussianMixture(3, covariance_type=covariance_type)
    ours._set_parameters(theirs._get_parameters())
    ours.n_features_in_ = X.shape[1]
    X_new = X + rng.normal(size=X.shape)
    assert_allclose(
        ours.score_samples(X_new), theirs.score_samples(X_new), rtol=1e-10, atol=1e-13
    )
    assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new), atol=1e-10)
    assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
    assert_allclose(ours.score(X_new), theirs.score(X_new), rtol=1e-12)
    assert_allclose(ours.bic(X_new), theirs.bic(X_new), rtol=1e-12)
    assert_allclose(ours.aic(X_new), theirs.aic(X_new), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_equals_sklearn(rng, covariance_type):
    X = _blobs(rng)
    seed = _seed(rng)
    ours = GaussianMixture(3, covariance_type=covariance_type, random_state=seed)
    theirs = SkGaussianMixture(3, covariance_type=covariance_type, random_state=seed)
    X_ours, y_ours = ours.fit(X).sample(500)
    X_theirs, y_theirs = theirs.fit(X).sample(500)
    assert_array_equal(y_ours, y_theirs)
    assert_allclose(X_ours, X_theirs, rtol=1e-7, atol=1e-9)
    assert X_ours.dtype == np.float64 and y_ours.dtype == np.int64


def test_fit_predict_equals_fit_then_predict(rng):
    X = _blobs(rng)
    seed = _seed(rng)
    labels = GaussianMixture(3, random_state=seed, n_init=2).fit_predict(X)
    assert_array_equal(
        labels, GaussianMixture(3, random_state=seed, n_init=2).fit(X).predict(X)
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bit_identical_with_one_and_two_threads(rng, monkeypatch, covariance_type):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 4)
    X = _blobs(rng, n_samples=3000, n_features=4, n_components=4)
    seed = _seed(rng)
    fits = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            gm = GaussianMixture(
                4,
                covariance_type=covariance_type,
                init_params="random",
                random_state=seed,
                max_iter=5,
                tol=0,
            )
            with pytest.warns(ConvergenceWarning):
                gm.fit(X)
            fits.append((gm, gm.score_samples(X), gm.predict_proba(X)))
    (one, scores_one, proba_one), (two, scores_two, proba_two) = fits
    for name in FITTED:
        assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert one.lower_bounds_ == two.lower_bounds_
    assert_array_equal(scores_one, scores_two)
    assert_array_equal(proba_one, proba_two)


def test_num_threads_restores_previous_setting():
    import numba

    before = numba.get_num_threads()
    with pytest.raises(RuntimeError), emfast.num_threads(1):
        assert numba.get_num_threads() == 1
        raise RuntimeError
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="n_threads must be in"):
        with emfast.num_threads(10**6):
            pass


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pickle_round_trip(rng, covariance_type):
    X = _blobs(rng, dtype=np.float32)
    gm = GaussianMixture(
        3, covariance_type=covariance_type, random_state=_seed(rng)
    ).fit(X)
    clone = pickle.loads(pickle.dumps(gm))
    assert clone.get_params() == gm.get_params()
    for name in [*FITTED, "lower_bound_", "n_iter_", "converged_", "lower_bounds_"]:
        assert_array_equal(getattr(clone, name), getattr(gm, name))
    assert_array_equal(clone.predict_proba(X), gm.predict_proba(X))


def test_collapsed_component_raises_like_sklearn_and_keeps_model(rng):
    good = _blobs(rng, n_samples=50, n_features=5)
    degenerate = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    params = dict(n_components=10, reg_covar=0, random_state=0)
    gm = GaussianMixture(**params).set_params(n_components=3).fit(good)
    before = {k: np.copy(v) for k, v in vars(gm).items() if k.endswith("_")}

    with pytest.raises(ValueError) as sklearn_error:
        SkGaussianMixture(**params).fit(degenerate)
    gm.set_params(n_components=10)
    with pytest.raises(ValueError) as our_error:
        gm.fit(degenerate)
    assert str(our_error.value) == str(sklearn_error.value)
    assert "ill-defined empirical covariance" in str(our_error.value)

    after = {k: v for k, v in vars(gm).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert_array_equal(after[name], value, err_msg=name)


def test_warm_start_with_other_feature_count_raises_and_keeps_model(rng):
    gm = GaussianMixture(2, warm_start=True, random_state=0).fit(_blobs(rng))
    means = gm.means_.copy()
    with pytest.raises(ValueError, match="features"):
        gm.fit(_blobs(rng, n_features=5))
    assert_array_equal(gm.means_, means)
    assert gm.n_features_in_ == 3


def test_warm_start_continues_like_sklearn(rng):
    X = _blobs(rng)
    seed = _seed(rng)
    ours = GaussianMixture(3, warm_start=True, max_iter=2, random_state=seed)
    theirs = SkGaussianMixture(3, warm_start=True, max_iter=2, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
            assert_allclose(ours.means_, theirs.means_, rtol=1e-9)
            assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-10)
            assert ours.converged_ == theirs.converged_


def test_all_inits_given_skip_estimation(rng):
    """No responsibilities are drawn: the generator is untouched, params are kept."""
    X = _blobs(rng)
    weights = np.array([0.2, 0.3, 0.5])
    means = rng.normal(size=(3, 3))
    precisions = np.array([np.eye(3) * p for p in (1.0, 2.0, 3.0)])
    random_state = np.random.RandomState(0)
    state_before = random_state.get_state()[1].copy()
    gm = GaussianMixture(
        3,
        max_iter=0,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        random_state=random_state,
    )
    gm.fit(X)
    assert_array_equal(random_state.get_state()[1], state_before)
    assert_array_equal(gm.weights_, weights)
    assert_array_equal(gm.means_, means)
    assert_allclose(gm.precisions_, precisions, rtol=1e-12)
    assert_allclose(gm.covariances_, np.linalg.inv(precisions), rtol=1e-12)
    assert gm.lower_bound_ == -np.inf and gm.lower_bounds_ == []


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_stays_float32_and_matches_float64(rng, covariance_type):
    X = _blobs(rng, n_samples=2000, n_features=4, n_components=3)
    seed = _seed(rng)
    # k-means puts one component on each blob: an init that puts two on one
    # blob leaves the split between them nearly flat, where float32 and float64
    # stop at points that differ by more than rounding
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        random_state=seed,
        init_params="kmeans",
        tol=1e-9,
    )
    fit64 = GaussianMixture(**kwargs).fit(X)
    fit32 = GaussianMixture(**kwargs).fit(X.astype(np.float32))
    for name in FITTED:
        assert getattr(fit32, name).dtype == np.float32, name
    assert fit32.score_samples(X.astype(np.float32)).dtype == np.float32
    assert fit32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert_allclose(fit32.lower_bound_, fit64.lower_bound_, rtol=1e-5)
    assert_allclose(fit32.means_, fit64.means_, rtol=1e-3, atol=1e-3)


def test_float32_variances_stay_positive_sklearn_30382():
    """scikit-learn#30382: float32 sums of squares gave negative variances."""
    X = np.array([[9999.0], [0.0]], dtype=np.float32)
    for covariance_type in ("spherical", "diag"):
        gm = GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.1)
        gm.fit(X)
        assert_allclose(gm.covariances_.ravel(), 0.1, rtol=1e-6)
        assert np.all(np.isfinite(gm.predict_proba(X)))


def test_far_offset_data_keep_their_digits(rng):
    """Centred statistics: a 1e6 offset does not eat float64 precision."""
    X = _blobs(rng, n_samples=500)
    seed = _seed(rng)
    kwargs = dict(
        n_components=3,
        random_state=seed,
        tol=0,
        max_iter=10,
        init_params="random_from_data",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        near = GaussianMixture(**kwargs).fit(X)
        far = GaussianMixture(**kwargs).fit(X + 1e6)
    assert_allclose(far.covariances_, near.covariances_, rtol=1e-6)
    assert_allclose(far.means_ - 1e6, near.means_, atol=1e-6)


def test_verbose_output_matches_sklearn(rng):
    X = _blobs(rng)
    seed = _seed(rng)
    outputs = []
    for cls in (GaussianMixture, SkGaussianMixture):
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            cls(3, verbose=1, verbose_interval=1, n_init=2, random_state=seed).fit(X)
        outputs.append(buffer.getvalue())
    assert outputs[0] == outputs[1]
    assert "Initialization 1" in outputs[0] and "Iteration 2" in outputs[0]


def test_fit_memory_does_not_grow_with_samples_times_components(rng):
    """Fit memory is O(block x K + K D^2): doubling n_samples adds ~nothing."""
    n_samples, n_components = 100_000, 32
    X = rng.normal(size=(2 * n_samples, 2))
    X[:, 0] += 4 * rng.integers(n_components, size=2 * n_samples)
    gm = GaussianMixture(
        n_components, init_params="random_from_data", random_state=0, max_iter=3, tol=0
    )
    peaks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X[:1000])  # compile outside the measurement
        for rows in (n_samples, 2 * n_samples):
            X_rows = np.ascontiguousarray(X[:rows])
            tracemalloc.start()
            try:
                gm.fit(X_rows)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
    n_by_k = n_samples * n_components * 8  # what one (n, K) float64 array takes
    assert peaks[1] - peaks[0] < n_by_k / 20, (peaks, n_by_k)
