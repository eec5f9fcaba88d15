"""scikit-learn's own BayesianGaussianMixture tests, run against emfast's.

The installed ``sklearn/mixture/tests/test_bayesian_mixture.py`` is imported (not
copied) and its module-level names are replaced before pytest collects the test
functions re-exported here: ``BayesianGaussianMixture`` by emfast's estimator,
and the two normalisation helpers it imports from scikit-learn
(``_log_dirichlet_norm``, ``_log_wishart_norm``) by emfast's, so that their
tests check the lower-bound terms emfast computes. Nothing is deselected.
"""

import pytest

pytest.importorskip("sklearn.mixture.tests.test_bayesian_mixture")

import sklearn.mixture.tests.test_bayesian_mixture as _sklearn_tests  # noqa: E402

from emfast.mixture.bayesian import BayesianGaussianMixture  # noqa: E402
from emfast.mixture.bayesian import _update as _bayesian_update  # noqa: E402

_sklearn_tests.BayesianGaussianMixture = BayesianGaussianMixture
_sklearn_tests._log_dirichlet_norm = _bayesian_update._log_dirichlet_norm
_sklearn_tests._log_wishart_norm = _bayesian_update._log_wishart_norm

DESELECTED: dict = {}

for _name in dir(_sklearn_tests):
    if _name.startswith("test_"):
        _test = getattr(_sklearn_tests, _name)
        if _name in DESELECTED:
            _test = pytest.mark.skip(reason=f"deselected: {DESELECTED[_name]}")(_test)
        globals()[_name] = _test
