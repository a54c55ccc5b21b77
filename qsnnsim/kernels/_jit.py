"""The one place numba options are set: every kernel is compiled with ``jit``.

``cache=True`` so the CLI does not recompile on every run; ``nogil`` so kernels can
release the GIL. No fastmath: the kernels are integer-exact by contract. A test fails if
any other module calls ``numba.njit`` directly.
"""

from __future__ import annotations

import functools

import numba
from numba import types
from numba.extending import intrinsic

JIT_OPTIONS = {"cache": True, "nogil": True}

jit = functools.partial(numba.njit, **JIT_OPTIONS)


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
