"""Build script for emfast (the metadata is here; pyproject.toml names the backend)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "emfast" / "__init__.py").read_text(), re.M
).group(1)

setup(
    name="emfast",
    version=VERSION,
    description=(
        "Fast EM and variational inference for latent-variable models: a drop-in "
        "scikit-learn GaussianMixture on parallel numba kernels"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["emfast", "emfast.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "numba>=0.59",
        "scipy>=1.10",
        # emfast mirrors the 1.9 GaussianMixture surface and reuses its parameter
        # validation and init-parameter checks (see emfast/_sklearn.py).
        "scikit-learn>=1.9,<1.11",
    ],
    extras_require={
        # the test extra pulls the optional parts too, so that one install runs
        # every test (Dask cluster tests, example scripts that plot,
        # SelectionTable.to_frame against real pandas)
        "test": [
            "pytest>=7",
            "pytest-benchmark>=4",
            "dask[distributed]>=2024.1",
            "matplotlib>=3.7",
            "pandas>=1.5",
            "tqdm",
        ],
        "bench": ["asv>=0.6", "pytest-benchmark>=4", "psutil"],
        "dask": ["dask[distributed]>=2024.1"],
        "plot": ["matplotlib>=3.7"],
        "progress": ["tqdm"],
        # PyTorch only for benchmarks/vae_compare.py (the CPU wheel)
        "torch": ["torch==2.13.0"],
        "dev": ["ruff", "pytest>=7", "pytest-benchmark>=4", "asv>=0.6"],
    },
    entry_points={"console_scripts": ["emfast=emfast.__main__:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "License :: OSI Approved :: BSD License",
    ],
)
