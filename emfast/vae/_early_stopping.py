"""Early stopping on the validation split, with scikit-learn's MLP rule.

After each epoch the validation score (the mean ELBO of the held-out rows, in
nats per row, higher is better) is compared with the best score so far: an
epoch whose score is below ``best + tol`` counts as one without improvement,
any other resets the count; training stops once the count exceeds
``n_iter_no_change``. The parameters of the best epoch are kept, and the
estimator puts them back when training ends (stopped or not), as
``MLPClassifier`` does with its ``coefs_`` and ``intercepts_``.
"""

import math

import numpy as np


class EarlyStopping:
    """Validation scores, the best one and its parameters, and the stop rule.

    Parameters
    ----------
    tol : float
        Improvement an epoch must bring over the best score to reset the count.
    n_iter_no_change : int
        Epochs without improvement tolerated; one more stops training.
    """

    def __init__(self, tol: float, n_iter_no_change: int) -> None:
        self.tol = float(tol)
        self.n_iter_no_change = int(n_iter_no_change)
        self.scores: list[float] = []
        self.best_score = -math.inf
        self.best_theta: np.ndarray | None = None
        self.no_improvement_count = 0

    def update(self, score: float, theta: np.ndarray) -> bool:
        """Record an epoch's validation ``score``; whether training should stop."""
        self.scores.append(score)
        if score < self.best_score + self.tol:
            self.no_improvement_count += 1
        else:
            self.no_improvement_count = 0
        if score > self.best_score:
            self.best_score = score
            self.best_theta = theta.copy()
        return self.no_improvement_count > self.n_iter_no_change

    def message(self) -> str:
        return (
            f"Validation score did not improve more than tol={self.tol} for "
            f"{self.n_iter_no_change} consecutive epochs. Stopping."
        )
