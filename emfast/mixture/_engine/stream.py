"""The step size of ``partial_fit``: stepwise EM and stochastic variational inference.

Each batch gives its statistics per unit weight under the current parameters;
the running statistics move towards them with step ``rho_t = (t + 2) ** -decay``
(Cappé & Moulines 2009; ``0.5 < decay <= 1`` guarantees convergence, smaller
decays forget faster) and the M-step runs on the blend. For a variational
posterior the update is linear in the expected statistics, so the same blend,
scaled to the amount of data, is stochastic variational inference's
natural-gradient step (Hoffman et al. 2013).
"""

from numbers import Real

DEFAULT_DECAY = 0.6


def check_decay(decay):
    """Raise unless ``decay`` is a real number in (0.5, 1]."""
    if isinstance(decay, bool) or not isinstance(decay, Real):
        raise TypeError(f"decay must be a float in (0.5, 1], got {decay!r}")
    if not 0.5 < decay <= 1.0:  # also rejects NaN
        raise ValueError(f"decay must be in (0.5, 1], got {decay!r}")


def step_size(step, decay=DEFAULT_DECAY):
    """Weight of the ``step``-th batch (0-based) in the running statistics."""
    check_decay(decay)
    return (step + 2.0) ** -decay
