"""Early stopping of VAE.fit on the validation split, with the rule and the
restoring of the best parameters of scikit-learn's MLP."""

import math
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from emfast.vae import VAE

SMALL = dict(n_latent=2, hidden_layer_sizes=(16,), batch_size=20)
STOPPING = dict(
    SMALL,
    validation_fraction=0.3,
    early_stopping=True,
    learning_rate=0.01,
    random_state=0,
)


def binary_data(rng, n_samples=120, n_features=12):
    return (rng.random((n_samples, n_features)) < 0.3).astype(np.float32)


def mlp_stopping_epoch(scores, tol, n_iter_no_change):
    """The epoch (1-based) after which scikit-learn's MLP stops, or None.

    ``_update_no_improvement_count`` with ``early_stopping=True``: an epoch
    scoring below ``best + tol`` counts, any other resets the count; the
    training loop stops once the count exceeds ``n_iter_no_change``.
    """
    best, count = -math.inf, 0
    for epoch, score in enumerate(scores, start=1):
        count = count + 1 if score < best + tol else 0
        best = max(best, score)
        if count > n_iter_no_change:
            return epoch
    return None


def test_stops_by_the_mlp_rule_and_keeps_the_best_epoch():
    # fixed data on which the validation score peaks early (84 training rows)
    X = binary_data(np.random.default_rng(0))
    vae = VAE(**STOPPING, max_epochs=60, n_iter_no_change=3, tol=0.0).fit(X)
    scores = vae.validation_scores_
    assert scores == [-loss for loss in vae.history_["val_loss"]]
    assert mlp_stopping_epoch(scores, 0.0, 3) == len(scores) == vae.n_epochs_ < 60
    assert vae.best_validation_score_ == max(scores)
    best_epoch = int(np.argmax(scores)) + 1
    assert best_epoch == len(scores) - 4
    # the parameters are those after the best epoch: a fit of that many epochs
    # without early stopping (same split, same draws) ends on the same bits
    reference = VAE(**{**STOPPING, "early_stopping": False}, max_epochs=best_epoch).fit(
        X
    )
    for got, want in zip(
        vae.coefs_ + vae.intercepts_, reference.coefs_ + reference.intercepts_
    ):
        assert_array_equal(got, want)
    assert reference.history_["val_loss"] == vae.history_["val_loss"][:best_epoch]
    assert reference.validation_scores_ is None
    assert reference.best_validation_score_ is None
    # the optimiser's counters are those of the last epoch, as in the MLP
    assert vae.t_ == len(scores) * 5  # 84 training rows: 5 minibatches


@pytest.mark.parametrize("n_iter_no_change", [1, 3])
def test_a_large_tol_stops_after_n_iter_no_change_plus_two_epochs(
    rng, n_iter_no_change
):
    """The first epoch sets the best score; every later one falls short of
    best + tol, and the count exceeding n_iter_no_change stops training."""
    X = binary_data(rng)
    vae = VAE(
        **STOPPING, max_epochs=20, n_iter_no_change=n_iter_no_change, tol=1e6
    ).fit(X)
    assert vae.n_epochs_ == len(vae.validation_scores_) == n_iter_no_change + 2
    assert len(vae.history_["train_loss"]) == n_iter_no_change + 2


def test_without_a_stop_the_best_epoch_is_still_kept(rng):
    """As the MLP, the best parameters are put back when max_epochs ends
    training too."""
    X = binary_data(rng)
    vae = VAE(**STOPPING, max_epochs=6, n_iter_no_change=10).fit(X)
    scores = vae.validation_scores_
    assert len(scores) == vae.n_epochs_ == 6
    assert mlp_stopping_epoch(scores, 1e-4, 10) is None
    best_epoch = int(np.argmax(scores)) + 1
    reference = VAE(**{**STOPPING, "early_stopping": False}, max_epochs=best_epoch).fit(
        X
    )
    assert_array_equal(vae.coefs_[0], reference.coefs_[0])
    assert_array_equal(vae.score_samples(X), reference.score_samples(X))


def test_stopping_is_reported_when_verbose(rng, capsys):
    X = binary_data(rng)
    VAE(**STOPPING, max_epochs=20, n_iter_no_change=1, tol=1e6, verbose=True).fit(X)
    out = capsys.readouterr().out
    assert (
        "Validation score did not improve more than tol=1000000.0 for 1 "
        "consecutive epochs. Stopping." in out
    )


def test_early_stopping_needs_validation_rows(rng):
    X = binary_data(rng)
    vae = VAE(**{**STOPPING, "validation_fraction": 0.0})
    with pytest.raises(ValueError, match="early_stopping=True needs validation rows"):
        vae.fit(X)
    assert not hasattr(vae, "n_features_in_")


def test_a_failed_fit_keeps_the_previous_scores(rng):
    X = binary_data(rng)
    vae = VAE(**STOPPING, max_epochs=3).fit(X)
    before = pickle.dumps(vae)
    with pytest.raises(ValueError, match="needs data in"):
        vae.fit(X * 3)
    assert pickle.dumps(vae) == before


def test_partial_fit_ignores_early_stopping(rng):
    """One epoch on all the rows it is given; the scores of the last fit stay."""
    X = binary_data(rng)
    vae = VAE(**STOPPING, max_epochs=3).fit(X)
    scores = list(vae.validation_scores_)
    vae.partial_fit(X)
    assert vae.n_epochs_ == 4
    assert vae.validation_scores_ == scores
    fresh = VAE(**STOPPING).partial_fit(X)
    assert fresh.n_epochs_ == 1 and fresh.validation_scores_ is None
    assert fresh.best_validation_score_ is None
