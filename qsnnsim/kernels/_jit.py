"""The one place numba options are set: every kernel is compiled with ``jit``.

``cache=True`` so the CLI does not recompile on every run; ``nogil`` so kernels can
release the GIL. No fastmath: the kernels are integer-exact by contract. A test fails if
any other module calls ``numba.njit`` directly.
"""

from __future__ import annotations

import functools
import sys

import numba
from numba import types
from numba.extending import intrinsic

JIT_OPTIONS = {"cache": True, "nogil": True}

jit = functools.partial(numba.njit, **JIT_OPTIONS)

_SCIPY_BLAS = "scipy.linalg.cython_blas"


def load_numba_target() -> None:
    """Do now, once, the set-up numba does on the first call of any kernel in a process.

    Loading even a cached kernel first registers numba's implementations of Python and numpy
    (about 0.3 s). Among them, ``numba.np.arraymath`` imports ``scipy.linalg`` (0.2 to 0.5 s,
    more than the rest together) only to learn whether a BLAS exists for numba's own
    ``np.correlate`` / ``np.convolve`` on floats; no kernel here uses either (they are
    integer-exact by contract). So, unless scipy is already loaded, that one import is made
    to fail for the duration of the set-up: numba then uses its plain loop for those two
    functions in this process, and everything else (``np.dot`` in numba code checks for
    scipy again when it is compiled) is as before. Calling it again costs a few ms.
    """
    from numba.core.registry import cpu_target

    hide = _SCIPY_BLAS not in sys.modules
    if hide:
        sys.modules[_SCIPY_BLAS] = None  # an import of it raises ImportError, without importing scipy
    try:
        cpu_target.target_context.refresh()
    finally:
        if hide and sys.modules.get(_SCIPY_BLAS, 0) is None:
            del sys.modules[_SCIPY_BLAS]


@intrinsic
def _ctpop64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


if numba.config.DISABLE_JIT:
    # NUMBA_DISABLE_JIT=1 runs kernels as plain Python (coverage, readable tracebacks),
    # where an LLVM intrinsic cannot run.
    def popcount64(x):
        """Number of set bits of a uint64."""
        return bin(int(x)).count("1")
else:
    popcount64 = _ctpop64
    popcount64.__doc__ = "Number of set bits of a uint64 (LLVM ctpop: one POPCNT instruction on x86-64)."
