"""Mixture models fitted by EM on emfast's kernels."""
