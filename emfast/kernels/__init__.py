"""numba kernels: loops over arrays only, no estimator code, no validation.

Layout convention: the component axis is the innermost (last) axis of every
per-component array inside a kernel (means as ``(n_features, n_components)``,
precision factors as ``(n_features, n_features, n_components)``) so that the
inner loops run over contiguous components and vectorise.
"""
