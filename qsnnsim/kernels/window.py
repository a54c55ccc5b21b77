"""Conv/pool window geometry shared by the kernels: which output a kernel offset lands on.

PyTorch cross-correlation with zero padding (DESIGN §2): input position ``pos`` is under
kernel offset ``k`` of output ``o`` exactly when ``o * stride - pad + k == pos``.
"""

from __future__ import annotations

from qsnnsim.kernels._jit import jit


@jit
def window_output(pos, pad, k, stride, out_size):
    """The output index whose window puts kernel offset ``k`` on input ``pos``, or -1 if none."""
    n = pos + pad - k
    if n < 0 or n % stride != 0:
        return -1
    o = n // stride
    return o if o < out_size else -1
