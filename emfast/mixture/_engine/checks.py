"""Value checks every mixture's model file shares."""

import numpy as np

# scikit-learn's tolerance on the sum of user-given weights (_check_weights)
_WEIGHT_SUM_ATOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-8}


def check_mixture_weights(weights):
    """Raise a ``ValueError`` unless ``weights_`` are >= 0 and sum to 1."""
    if (weights < 0).any():
        raise ValueError(
            f"fitted.weights_ holds negative values (min {weights.min()!r}); "
            "mixture weights are >= 0 and sum to 1"
        )
    total = float(np.sum(weights, dtype=np.float64))
    if abs(total - 1.0) > _WEIGHT_SUM_ATOL[weights.dtype]:
        raise ValueError(f"fitted.weights_ sum to {total!r}, not 1")
