"""numba kernels: loops over arrays only, no estimator code, no validation.

``kernels.vae`` holds the VAE trainer's kernels; the mixture kernels hold the
fused E-step + statistics passes. The two share only the vectorisable
``exp`` of :mod:`emfast.kernels.fastexp`.

Layout convention of the mixture kernels: the component axis is the innermost
(last) axis of every per-component array inside a kernel (means as
``(n_features, n_components)``, precision factors as
``(n_features, n_features, n_components)``) so that the inner loops run over
contiguous components and vectorise.
"""
