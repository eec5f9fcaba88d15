"""numba kernels of the mixtures: one fused pass (E-step and statistics) per family.

``gaussian_*`` (one module per covariance layout; ``gaussian_missing``,
``gaussian_missing_tile`` and ``gaussian_missing_diag`` for rows with missing
values), ``poisson``, the initial
statistics of given responsibilities (``moments``) and the per-row log-sum-exp
and posteriors they share (``logsumexp``, ``accumulate``). The ``exp`` they use
is :mod:`emfast.kernels.fastexp`, shared with the VAE's kernels.
"""
