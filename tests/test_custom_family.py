"""CustomMixture: user-defined families fitted by the engine, against numpy
references of the same EM and against scikit-learn's spherical GaussianMixture.

The families are in tests/custom_families.py (the von Mises one is the
README's). Input forms, threads, pickling and errors are in
tests/test_custom_family_engine.py.
"""

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.utils.estimator_checks import check_estimator

from emfast import ComponentFamily, CustomMixture
from tests import custom_families as families
from tests.custom_families import EXPONENTIAL, SPHERICAL, VON_MISES

TRUE_MEANS = np.array([-2.0, 0.5, 2.5])
TRUE_KAPPAS = np.array([6.0, 12.0, 4.0])
TRUE_WEIGHTS = np.array([0.3, 0.45, 0.25])


def von_mises_angles(rng, n_samples):
    labels = rng.choice(3, size=n_samples, p=TRUE_WEIGHTS)
    return rng.vonmises(TRUE_MEANS[labels], TRUE_KAPPAS[labels])[:, np.newaxis]


def exponential_rows(rng, n_samples):
    scales = np.array([0.2, 1.0, 6.0])
    return rng.exponential(scales[rng.integers(3, size=n_samples)])[:, np.newaxis]


def _seed(rng):
    return int(rng.integers(2**31))


def _quiet_fit(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


def test_von_mises_mixture_recovers_simulated_directions(rng):
    X = von_mises_angles(rng, 20_000)
    model = CustomMixture(
        VON_MISES, 3, n_init=3, tol=1e-8, max_iter=1000, random_state=_seed(rng)
    ).fit(X)
    assert model.converged_
    order = np.argsort(model.params_[:, 0])
    # about 5 standard deviations of each estimate (measured over 12 draws)
    assert_allclose(model.weights_[order], TRUE_WEIGHTS, atol=0.02)
    assert_allclose(model.params_[order, 0], TRUE_MEANS, atol=0.06)
    assert_allclose(model.params_[order, 1], TRUE_KAPPAS, rtol=0.12)
    # the other columns are functions of mu and kappa
    mu, kappa = model.params_[:, 0], model.params_[:, 1]
    assert_allclose(model.params_[:, 2], kappa * np.cos(mu), rtol=1e-12)
    assert_allclose(model.params_[:, 3], kappa * np.sin(mu), rtol=1e-12)
    assert_allclose(model.params_[:, 4], -np.log(2 * np.pi * np.i0(kappa)), rtol=1e-12)


REFERENCES = {
    "von Mises": (
        VON_MISES,
        von_mises_angles,
        families.von_mises_log_densities,
        families.von_mises_statistics_of,
        families.von_mises_m_step,
    ),
    "exponential": (
        EXPONENTIAL,
        exponential_rows,
        families.exponential_log_densities,
        families.exponential_statistics_of,
        families.exponential_m_step,
    ),
}


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_em_path_equals_the_numpy_reference(rng, name, weighted):
    family, simulate, log_densities, statistics_of, m_step = REFERENCES[name]
    X = simulate(rng, 3000)
    # weights of mean near one: the engine's 10 eps is then the reference's
    w = rng.uniform(0.5, 1.5, size=X.shape[0]) if weighted else None
    kwargs = dict(init_params="random", random_state=_seed(rng))
    start = CustomMixture(family, 3, max_iter=0, **kwargs)
    _quiet_fit(start, X, sample_weight=w)
    model = CustomMixture(family, 3, max_iter=25, tol=0.0, **kwargs)
    _quiet_fit(model, X, sample_weight=w)
    weights, params, bounds = families.reference_em(
        X, start.weights_, start.params_, 25, log_densities, statistics_of, m_step, w
    )
    assert_allclose(model.lower_bounds_, bounds, rtol=1e-11)
    assert_allclose(model.weights_, weights, rtol=1e-10)
    assert_allclose(model.params_, params, rtol=1e-10)

    # scoring against the same references
    log_prob = np.log(model.weights_) + log_densities(X, model.params_)
    log_norm = logsumexp(log_prob, axis=1)
    # log p(x) of order one may cross zero: an absolute floor at its rounding
    assert_allclose(model.score_samples(X), log_norm, rtol=1e-12, atol=1e-14)
    assert_allclose(
        model.predict_proba(X), np.exp(log_prob - log_norm[:, None]), atol=1e-12
    )
    assert_array_equal(model.predict(X), np.argmax(log_prob, axis=1))
    n_parameters = 3 * family.free_parameters(1) + 2
    total = log_norm.sum()
    assert model.bic(X) == pytest.approx(
        -2 * total + n_parameters * math.log(X.shape[0]), rel=1e-12
    )
    assert model.aic(X) == pytest.approx(-2 * total + 2 * n_parameters, rel=1e-12)


def test_spherical_family_equals_scikit_learns_spherical_gaussian_mixture(rng):
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, -2.0], [-3.0, 4.0, 1.0]])
    X = centers[rng.integers(3, size=2000)] + rng.normal(size=(2000, 3))
    kwargs = dict(n_components=3, max_iter=30, tol=0.0, random_state=_seed(rng))
    ours = _quiet_fit(CustomMixture(SPHERICAL, **kwargs), X)
    theirs = _quiet_fit(
        SklearnGaussianMixture(
            covariance_type="spherical", reg_covar=families.REG_COVAR, **kwargs
        ),
        X,
    )
    assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-9)
    assert_allclose(ours.weights_, theirs.weights_, rtol=1e-8)
    assert_allclose(ours.params_[:, :3], theirs.means_, rtol=1e-8, atol=1e-10)
    assert_allclose(ours.params_[:, 3], theirs.covariances_, rtol=1e-8)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-10)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-10)


def test_float32_rows_give_float32_arrays_close_to_the_float64_fit(rng):
    X = von_mises_angles(rng, 3000)
    kwargs = dict(init_params="random", random_state=_seed(rng))
    single = _quiet_fit(
        CustomMixture(VON_MISES, 3, max_iter=10, **kwargs), X.astype(np.float32)
    )
    double = _quiet_fit(CustomMixture(VON_MISES, 3, max_iter=10, **kwargs), X)
    assert single.weights_.dtype == single.params_.dtype == np.float32
    assert single.score_samples(X.astype(np.float32)).dtype == np.float32
    assert_allclose(single.params_, double.params_, rtol=1e-4, atol=1e-5)


def test_sample_draws_from_the_family_grouped_by_component(rng):
    X = exponential_rows(rng, 3000)
    model = CustomMixture(EXPONENTIAL, 3, random_state=_seed(rng)).fit(X)
    samples, labels = model.sample(60_000)
    assert samples.shape == (60_000, 1)
    assert_array_equal(labels, np.sort(labels))
    for k in range(3):
        mine = samples[labels == k, 0]
        assert mine.size == pytest.approx(60_000 * model.weights_[k], rel=0.1)
        assert mine.mean() == pytest.approx(1 / model.params_[k, 0], rel=0.1)
    with pytest.raises(NotImplementedError, match="no sample function"):
        CustomMixture(SPHERICAL, 2).fit(X).sample(3)


# scikit-learn skips its array-API check unless SCIPY_ARRAY_API is set
SKIPPED_CHECKS = "ignore::sklearn.exceptions.SkipTestWarning"


@pytest.mark.filterwarnings(SKIPPED_CHECKS)
def test_check_estimator_passes():
    check_estimator(CustomMixture(SPHERICAL))


@pytest.mark.filterwarnings(SKIPPED_CHECKS)
def test_check_estimator_passes_without_optional_functions():
    """Without expected_statistics, partial_fit after fit starts its running
    statistics from the batch."""
    bare = ComponentFamily(
        families.spherical_log_density,
        families.spherical_statistics,
        families.spherical_m_step,
        n_statistics=families.one_more_than,
        n_parameters=families.one_more_than,
    )
    check_estimator(CustomMixture(bare))


def test_the_readme_family_runs_and_recovers_its_mixture(tmp_path):
    """The README's code block, run as a module of its own (numba caches
    functions defined in a file)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## User-defined families", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "readme_family.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("readme_family", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.model
    order = np.argsort(model.params_[:, 0])
    assert_allclose(model.weights_[order], TRUE_WEIGHTS, atol=0.03)
    assert_allclose(model.params_[order, 0], TRUE_MEANS, atol=0.06)
    assert_allclose(model.params_[order, 1], TRUE_KAPPAS, rtol=0.12)
