"""The machine a benchmark runs on, and the instruction set it measures.

Two modes, each run in a child process because the libraries read their
settings when they load:

- ``native``: every library on this CPU's best code paths, with
  ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from the environment
  (some machines set them, which forces older OpenBLAS kernels on numpy and
  scikit-learn alike);
- ``avx2``: AVX2 code on an AVX-512 machine, for every library alike: numba
  compiles for Haswell (``NUMBA_CPU_NAME=haswell`` and an empty
  ``NUMBA_CPU_FEATURES``: the CPU name alone keeps the host's feature list,
  AVX-512 included), numpy's dispatch skips its AVX-512 targets
  (``NPY_DISABLE_CPU_FEATURES``) and OpenBLAS runs its Haswell kernels. The
  child gets its own numba cache directory, so that Haswell machine code never
  mixes with the native cache;
- ``wide``: ``native`` with 512-bit vectors in numba's code on AVX-512 CPUs whose
  LLVM tuning prefers 256-bit vectors (Intel Xeons since Skylake-SP): the host's
  feature list plus ``-prefer-256-bit`` in ``NUMBA_CPU_FEATURES``. numpy and
  OpenBLAS already use 512-bit vectors natively.

Import this module before numpy when calling :func:`exec_native_if_needed`.
"""

import os
import platform
import subprocess
import sys
import tempfile

NATIVE_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
AVX2_ENV = {
    "NUMBA_CPU_NAME": "haswell",
    "NUMBA_CPU_FEATURES": "",
    "NPY_DISABLE_CPU_FEATURES": (
        "X86_V4,AVX512_SKX,AVX512_CLX,AVX512_CNL,AVX512_ICL,AVX512_SPR"
    ),
    "OPENBLAS_CORETYPE": "Haswell",
}
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
)  # fmt: skip


def mode_env(mode, base=None):
    """The environment of a child process measuring ``mode``."""
    env = dict(os.environ if base is None else base)
    for name in NATIVE_UNSET:
        env.pop(name, None)
    if mode == "avx2":
        env.update(AVX2_ENV)
        env["NUMBA_CACHE_DIR"] = os.path.join(
            tempfile.gettempdir(), "emfast-numba-cache-haswell"
        )
    elif mode == "wide":
        import llvmlite.binding as llvm  # numba's LLVM; does not load numpy

        features = llvm.get_host_cpu_features().flatten()
        env["NUMBA_CPU_FEATURES"] = f"{features},-prefer-256-bit"
        env["NUMBA_CACHE_DIR"] = os.path.join(
            tempfile.gettempdir(), "emfast-numba-cache-wide"
        )
    elif mode != "native":
        raise ValueError(f"mode must be 'native', 'avx2' or 'wide', got {mode!r}")
    return env


def exec_native_if_needed():
    """Re-run this script without the OpenBLAS overrides of :data:`NATIVE_UNSET`.

    Call it before numpy is imported; it returns only when nothing is set.
    """
    if any(name in os.environ for name in NATIVE_UNSET):
        env = mode_env("native")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def run_child(mode, argv):
    """Run ``python argv...`` in ``mode``'s environment; return its stdout."""
    result = subprocess.run(
        [sys.executable, *argv], env=mode_env(mode), stdout=subprocess.PIPE, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{result.stdout}")
    return result.stdout


def cpu_flags():
    """The CPU's model name and the SIMD flags of :data:`SIMD_FLAGS` it has."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model, [flag for flag in SIMD_FLAGS if flag in flags]


def describe():
    """Model, SIMD flags and the code paths numba, numpy and OpenBLAS take."""
    import llvmlite.binding as llvm
    import numba
    import numpy as np
    from threadpoolctl import threadpool_info

    model, flags = cpu_flags()
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    numpy_targets = [
        name
        for name in ("X86_V3", "X86_V4", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR")
        if __cpu_features__.get(name)
    ]
    blas = list(
        dict.fromkeys(  # numpy's and scipy's OpenBLAS: one entry when they agree
            f"{info.get('internal_api')} {info.get('architecture')}"
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        )
    )
    features = numba.config.CPU_FEATURES
    if features and features.endswith(",-prefer-256-bit"):
        features = "host, 512-bit vectors"
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "simd_flags": flags,
        "numba_target": numba.config.CPU_NAME or llvm.get_host_cpu_name(),
        "numba_features": "host" if features is None else (features or "CPU default"),
        "numpy_dispatch": numpy_targets,
        "blas": blas,
        "numba_threads": numba.get_num_threads(),
        "versions": {
            "numba": numba.__version__,
            "numpy": np.__version__,
        },
    }


def describe_line(info):
    """One line naming the CPU and the code paths measured."""
    return (
        f"{info['cpu']} ({info['cpus']} CPUs; {' '.join(info['simd_flags'])}); "
        f"numba target {info['numba_target']} (features: {info['numba_features']}), "
        f"numpy dispatch {'/'.join(info['numpy_dispatch']) or 'baseline'}, "
        f"BLAS {', '.join(info['blas'])}; {info['numba_threads']} threads"
    )
