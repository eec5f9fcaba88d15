"""Scaling every sample weight by one factor leaves a fit unchanged.

Issue 11: with ``sample_weight=np.full(300, 1e-300)`` GaussianMixture gave means of
1e-282, at 1e-17 means near 4 instead of 10: scikit-learn's ``10 eps`` added to
each component's weight dominated weights that small, and float32 kernels and
k-means cannot hold them at all. Each test fits with weights ``w`` and with
``scale * w`` and compares; the variational mixture, whose weights count rows,
is compared with its update formulas instead.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from emfast import BayesianGaussianMixture, GaussianMixture, PoissonMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
SCALES = [1e-300, 1e-17, 1e100]
RTOL = {np.float64: 1e-9, np.float32: 2e-5}
GAUSSIAN_FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_"]


def _blobs(rng, n_samples=300, n_features=2, dtype=np.float64):
    """Two separated clusters around 10 (the reproducer's offset)."""
    labels = rng.integers(2, size=n_samples)
    X = 10.0 + 6.0 * labels[:, None] + rng.normal(size=(n_samples, n_features))
    return X.astype(dtype)


def _seed(rng):
    return int(rng.integers(2**31))


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def _assert_same_model(ours, reference, names, rtol):
    assert ours.n_iter_ == reference.n_iter_
    assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=rtol)
    for name in names:
        value = np.asarray(getattr(reference, name), dtype=np.float64)
        assert_allclose(
            getattr(ours, name),
            value,
            rtol=rtol,
            atol=rtol * np.abs(value).max(),
            err_msg=name,
        )


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_fit_does_not_depend_on_the_weight_unit(
    rng, covariance_type, dtype, scale
):
    X = _blobs(rng, dtype=dtype)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    kwargs = dict(
        n_components=2,
        covariance_type=covariance_type,
        init_params=["kmeans", "k-means++", "random", "random_from_data"][
            rng.integers(4)
        ],
        random_state=_seed(rng),
        tol=0,
        max_iter=15,
    )
    reference = _quiet_fit(GaussianMixture(**kwargs), X, sample_weight=weights)
    ours = _quiet_fit(GaussianMixture(**kwargs), X, sample_weight=scale * weights)
    _assert_same_model(ours, reference, GAUSSIAN_FITTED, RTOL[dtype])


def test_issue_reproducer_means_stay_near_ten(rng):
    X = rng.normal(size=(300, 2))
    reference = GaussianMixture(2, random_state=0).fit(X + 10)
    for scale in (1e-300, 1e-17):
        ours = GaussianMixture(2, random_state=0).fit(
            X + 10, sample_weight=np.full(300, scale)
        )
        assert_allclose(ours.means_, reference.means_, rtol=1e-9)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_and_dask_fits_do_not_depend_on_the_weight_unit(
    rng, covariance_type, scale
):
    X = _blobs(rng, n_samples=400)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    kwargs = dict(
        n_components=2,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=_seed(rng),
        tol=0,
        max_iter=10,
    )
    reference = _quiet_fit(GaussianMixture(**kwargs), X, sample_weight=weights)
    cut = int(rng.integers(1, X.shape[0]))
    chunks = [(X[:cut], scale * weights[:cut]), (X[cut:], scale * weights[cut:])]
    chunked = _quiet_fit(GaussianMixture(**kwargs), chunks)
    _assert_same_model(chunked, reference, GAUSSIAN_FITTED, 1e-9)

    da = pytest.importorskip("dask.array")
    dask_fit = _quiet_fit(
        GaussianMixture(**kwargs),
        da.from_array(X, chunks=(150, 2)),
        sample_weight=da.from_array(scale * weights, chunks=150),
    )
    _assert_same_model(dask_fit, reference, GAUSSIAN_FITTED, 1e-9)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_does_not_depend_on_the_weight_unit(rng, covariance_type, scale):
    X = _blobs(rng, n_samples=600, dtype=np.float32)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    kwargs = dict(
        n_components=2, covariance_type=covariance_type, random_state=_seed(rng)
    )
    reference, ours = GaussianMixture(**kwargs), GaussianMixture(**kwargs)
    for batch in np.array_split(np.arange(X.shape[0]), 6):
        reference.partial_fit(X[batch], sample_weight=weights[batch])
        ours.partial_fit(X[batch], sample_weight=scale * weights[batch])
    _assert_same_model(ours, reference, GAUSSIAN_FITTED, 2e-5)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_poisson_fit_does_not_depend_on_the_weight_unit(rng, dtype, scale):
    labels = rng.integers(2, size=400)
    X = rng.poisson(np.array([[2.0, 5.0, 1.0], [12.0, 3.0, 8.0]])[labels])
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    kwargs = dict(
        n_components=2,
        init_params=["kmeans", "k-means++", "random", "random_from_data"][
            rng.integers(4)
        ],
        random_state=_seed(rng),
        tol=0,
        max_iter=15,
    )
    X = X.astype(dtype)
    reference = _quiet_fit(PoissonMixture(**kwargs), X, sample_weight=weights)
    ours = _quiet_fit(PoissonMixture(**kwargs), X, sample_weight=scale * weights)
    _assert_same_model(ours, reference, ["weights_", "rates_"], RTOL[dtype])


def _bishop_update(X, labels, counts, priors, reg_covar):
    """The variational update of hard labels whose rows weigh ``counts`` each
    (scikit-learn's formulas, full covariances, Dirichlet process), without the
    ``10 eps`` so that it holds for weights of any size."""
    mean_precision_prior, mean_prior, dof_prior, covariance_prior, gamma = priors
    K = labels.max() + 1
    nk = np.array([counts[labels == k].sum() for k in range(K)])
    xk = np.array([np.average(X[labels == k], axis=0) for k in range(K)])
    sk = np.array(
        [
            np.cov(X[labels == k].T, aweights=counts[labels == k], bias=True)
            + reg_covar * np.eye(X.shape[1])
            for k in range(K)
        ]
    )
    mean_precision = mean_precision_prior + nk
    means = (mean_precision_prior * mean_prior + nk[:, None] * xk) / mean_precision[
        :, None
    ]
    dof = dof_prior + nk
    diff = xk - mean_prior
    covariances = (
        covariance_prior
        + nk[:, None, None] * sk
        + (nk * mean_precision_prior / mean_precision)[:, None, None]
        * diff[:, :, None]
        * diff[:, None, :]
    ) / dof[:, None, None]
    after = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0))
    return {
        "mean_precision_": mean_precision,
        "means_": means,
        "degrees_of_freedom_": dof,
        "covariances_": covariances,
        "weight_concentration_": np.concatenate([1 + nk, gamma + after]),
    }


@pytest.mark.parametrize("scale", [*SCALES, 1.0])
def test_bayesian_update_holds_at_every_weight_unit(rng, scale):
    """The variational mixture counts weights as rows, so scaling them changes
    the posterior; its update must follow the formulas at every scale. A prior
    of strength ``scale * 1e-3`` lets the data decide the means: with the fixed
    ``10 eps`` the means shrank towards 0 at scale 1e-17."""
    X = _blobs(rng, n_samples=300, n_features=2)
    seed = _seed(rng)
    counts = np.full(X.shape[0], scale)
    priors = (scale * 1e-3, np.array([12.0, 13.0]), 2.0, np.eye(2), 0.5)
    model = BayesianGaussianMixture(
        n_components=2,
        max_iter=0,  # the initial update on k-means labels
        random_state=seed,
        mean_precision_prior=priors[0],
        mean_prior=priors[1],
        degrees_of_freedom_prior=priors[2],
        covariance_prior=priors[3],
        weight_concentration_prior=priors[4],
    ).fit(X, sample_weight=counts)
    labels = (
        KMeans(2, n_init=1, random_state=np.random.RandomState(seed)).fit(X).labels_
    )
    expected = _bishop_update(X, labels, counts, priors, reg_covar=1e-6)
    for name, value in expected.items():
        fitted = getattr(model, name)
        if isinstance(fitted, tuple):
            fitted = np.concatenate(fitted)
        assert_allclose(fitted, value, rtol=1e-9, err_msg=name)


OUT_OF_RANGE = [
    (1e306, "sum beyond float64's range, more than 2\\*\\*1000"),
    (1e299, "sum to 3e\\+301, more than 2\\*\\*1000"),
    (1e-302, "average 1e-302, less than 2\\*\\*-1000"),
]


@pytest.mark.parametrize("scale, message", OUT_OF_RANGE)
@pytest.mark.parametrize(
    "estimator",
    [
        GaussianMixture(2, random_state=0),
        BayesianGaussianMixture(n_components=2, covariance_prior=np.eye(2)),
        PoissonMixture(2, random_state=0),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
def test_weights_beyond_float64_sums_raise_and_keep_the_model(
    rng, estimator, scale, message
):
    X = np.round(_blobs(rng))
    weights = np.full(X.shape[0], scale)
    model = estimator.fit(X)
    fitted = {name: np.copy(value) for name, value in vars(model).items()}
    with pytest.raises(ValueError, match=message):
        model.fit(X, sample_weight=weights)
    for name, value in fitted.items():
        np.testing.assert_array_equal(getattr(model, name), value, err_msg=name)
    if isinstance(model, GaussianMixture):
        with pytest.raises(ValueError, match=message):
            model.fit([(X[:100], weights[:100]), (X[100:], weights[100:])])
        with pytest.raises(ValueError, match=message):
            model.partial_fit(X, sample_weight=weights)
        np.testing.assert_array_equal(model.means_, fitted["means_"])
