"""scikit-learn's own GaussianMixture tests, run against emfast.GaussianMixture.

The installed ``sklearn/mixture/tests/test_gaussian_mixture.py`` is imported (not
copied) and its module-level name ``GaussianMixture`` is replaced by emfast's
before pytest collects the test functions re-exported here. Tests that only
exercise scikit-learn's private helpers, or that patch them, are deselected
below, each with its reason.
"""

import pytest

pytest.importorskip("sklearn.mixture.tests.test_gaussian_mixture")

import sklearn.mixture.tests.test_gaussian_mixture as _sklearn_tests  # noqa: E402

import emfast  # noqa: E402

_sklearn_tests.GaussianMixture = emfast.GaussianMixture

DESELECTED = {
    # They call scikit-learn's private helpers only; no GaussianMixture involved,
    # so they would pass whatever emfast does.
    "test_suffstat_sk_full": "tests sklearn's _estimate_gaussian_covariances_full",
    "test_suffstat_sk_tied": "tests sklearn's _estimate_gaussian_covariances_tied",
    "test_suffstat_sk_diag": "tests sklearn's _estimate_gaussian_covariances_diag",
    "test_gaussian_suffstat_sk_spherical": (
        "tests sklearn's _estimate_gaussian_covariances_spherical"
    ),
    "test_compute_log_det_cholesky": "tests sklearn's _compute_log_det_cholesky",
    "test_gaussian_mixture_log_probabilities": (
        "tests sklearn's _estimate_log_gaussian_prob"
    ),
    # It mocks sklearn's private _estimate_gaussian_parameters and counts calls;
    # emfast's M-step works on its own fused statistics and never calls it (the
    # behaviour it guards, no estimation when all inits are given, is tested in
    # test_gaussian_mixture.py::test_all_inits_given_skip_estimation).
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
        "mocks sklearn's private _estimate_gaussian_parameters"
    ),
    # array API dispatch (torch/cupy/array-api-strict inputs): emfast's kernels
    # take numpy arrays only. These skip anyway without array-api-compat.
    "test_gaussian_mixture_array_api_compliance": (
        "array API namespaces other than numpy"
    ),
    "test_gaussian_mixture_raises_where_array_api_not_implemented": (
        "array API namespaces other than numpy"
    ),
}

for _name in dir(_sklearn_tests):
    if _name.startswith("test_"):
        _test = getattr(_sklearn_tests, _name)
        if _name in DESELECTED:
            _test = pytest.mark.skip(reason=f"deselected: {DESELECTED[_name]}")(_test)
        globals()[_name] = _test
