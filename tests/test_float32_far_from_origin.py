"""float32 rows far from the origin: fits converge as scikit-learn's do.

Issue 11: BayesianGaussianMixture on ``(X + 1e6).astype(np.float32)`` never
converged (its bound moved by about 0.14 per iteration; at 1e5 it decreased)
while scikit-learn converged in 4 iterations. The statistics were centred on
the float64 means while the kernels subtracted them rounded to float32, an
error of up to half a float32 spacing (0.03 at 1e6) that changed every
iteration, and the default prior mean was rounded to float32 too.

The reference is scikit-learn on the same float32 values, made float64 and
moved to the origin (exactly): the models are equivariant to the move, and
scikit-learn's uncentred diagonal moments lose digits far from the origin.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emfast import BayesianGaussianMixture, GaussianMixture

from .test_bayesian_mixture import COVARIANCE_TYPES, _blobs, _seed


@pytest.mark.parametrize("offset", [1e5, 1e6])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_converges_like_sklearn(rng, covariance_type, offset):
    """The bound settles in as many iterations as scikit-learn's (+2)."""
    X32 = (_blobs(rng, n_samples=600, n_features=2, n_components=2) + offset).astype(
        np.float32
    )
    moved = X32.astype(np.float64) - offset
    kwargs = dict(
        n_components=2,
        covariance_type=covariance_type,
        max_iter=200,
        random_state=_seed(rng),
    )
    ours = BayesianGaussianMixture(**kwargs).fit(X32)
    theirs = SkBayesianGaussianMixture(**kwargs).fit(moved)
    assert ours.converged_ and ours.n_iter_ <= theirs.n_iter_ + 2
    assert ours.means_.dtype == np.float32
    # the bound is a total over the rows; means are float32 (spacing 0.0625 at 1e6)
    assert abs(ours.lower_bound_ - np.ravel(theirs.lower_bound_)[0]) < 0.05
    ours_order, their_order = (
        np.argsort(ours.means_[:, 0]),
        np.argsort(theirs.means_[:, 0]),
    )
    assert_allclose(
        ours.means_[ours_order] - offset,
        theirs.means_[their_order],
        atol=np.spacing(np.float32(offset)),
    )
    covariances = ours.covariances_
    if covariance_type != "tied":
        covariances = covariances[ours_order]
        their_covariances = theirs.covariances_[their_order]
    else:
        their_covariances = theirs.covariances_
    assert_allclose(covariances, their_covariances, rtol=5e-3, atol=1e-2)


@pytest.mark.parametrize("n_features", [2, 7])  # loop and GEMM kernels
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_converges_like_sklearn(rng, covariance_type, n_features):
    """float32 rows at 1e6, loop and GEMM kernels."""
    offset = 1e6
    X = _blobs(rng, n_samples=600, n_features=n_features, n_components=2)
    X32 = (X + offset).astype(np.float32)
    kwargs = dict(n_components=2, covariance_type=covariance_type, random_state=0)
    ours = GaussianMixture(**kwargs, max_iter=200).fit(X32)
    theirs = SkGaussianMixture(**kwargs, max_iter=200).fit(
        X32.astype(np.float64) - offset
    )
    assert ours.converged_ and ours.n_iter_ <= theirs.n_iter_ + 2
    # per-row mean log-likelihood; the kernels evaluate at float32 means
    assert abs(ours.lower_bound_ - theirs.lower_bound_) < 5e-3
    ours_order = np.argsort(ours.means_[:, 0])
    their_order = np.argsort(theirs.means_[:, 0])
    assert_allclose(
        ours.means_[ours_order] - offset,
        theirs.means_[their_order],
        atol=np.spacing(np.float32(offset)),
    )
    covariances, their_covariances = ours.covariances_, theirs.covariances_
    if covariance_type != "tied":
        covariances = covariances[ours_order]
        their_covariances = their_covariances[their_order]
    assert_allclose(covariances, their_covariances, rtol=5e-3, atol=1e-2)
