"""Training and inference rows: the one execution seam between data and kernels."""
