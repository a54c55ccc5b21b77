"""Quantisation pieces of the torch model: STE rounding, weight quantisers, spike, BatchNorm.

Everything here is differentiable in the straight-through sense and exposes the integers
it stands for, so :mod:`.fold` reads codes and scales from the same functions the forward
pass uses (no second derivation that could drift).

- :func:`floor_ste`, :func:`round_ste`: integer-valued forward, identity gradient.
- :class:`WeightQuantizer`: ``binary`` (per-channel standardisation when WS-DR is on,
  ``sign`` with 0 -> +1, a per-channel power-of-two scale), ``int8`` (symmetric per-channel,
  codes clamped to [-127, 127]) or ``float``.
- :func:`spike`: Heaviside forward, arctan surrogate gradient.
- :class:`FoldableBatchNorm`: BatchNorm that returns its per-channel affine ``(a, b)`` so the
  model can floor ``a * z`` and round the summed ``b`` exactly as the folded integers do.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INT8_MAX_CODE = 127
SURROGATE_ALPHA = 2.0
STANDARDIZE_EPS = 1e-5


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """floor(x) forward, identity gradient."""
    return x + (torch.floor(x) - x).detach()


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even forward (``torch.round``, as numpy's ``rint``), identity gradient."""
    return x + (torch.round(x) - x).detach()


class _Spike(torch.autograd.Function):
    """Heaviside(x > 0) with the arctan surrogate of Fang et al. (SpikingJelly's ATan)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.width = width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        u = x / ctx.width
        surrogate = (SURROGATE_ALPHA / 2) / (1 + (math.pi / 2 * SURROGATE_ALPHA * u) ** 2)
        return grad * surrogate / ctx.width, None


def spike(x: torch.Tensor, width: float = 1.0) -> torch.Tensor:
    """Spike where ``x > 0``; the surrogate gradient is spread over ``width`` units of x."""
    return _Spike.apply(x, float(width))


def power_of_two(x: torch.Tensor) -> torch.Tensor:
    """2^round(log2(x)) elementwise, for positive x (0 maps to 1)."""
    safe = torch.where(x > 0, x, torch.ones_like(x))
    return torch.pow(2.0, torch.round(torch.log2(safe)))


def int8_codes(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel 8-bit quantisation: (codes in [-127, 127], scale (C,)).

    ``scale = max|w_c| / 127`` (1 for an all-zero channel); codes round half to even.
    """
    max_abs = w.abs().flatten(1).amax(dim=1)
    scale = torch.where(max_abs > 0, max_abs / INT8_MAX_CODE, torch.ones_like(max_abs))
    per_channel = scale.view((-1,) + (1,) * (w.dim() - 1))
    return torch.clamp(torch.round(w / per_channel), -INT8_MAX_CODE, INT8_MAX_CODE), scale


class WeightQuantizer(nn.Module):
    """Latent float weights and their quantised view.

    Parameters
    ----------
    shape : tuple[int, ...]
        Weight shape, output channels first ((C_out, C_in, kH, kW) or (C_out, C_in)).
    kind : str
        ``binary``, ``int8`` or ``float``.
    standardize : bool
        Standardise each output channel's latent weights before ``sign`` (WS-DR's weight
        regulation: zero mean, unit variance makes +1 and -1 equally likely, maximising the
        binary weights' entropy). Only used by ``binary``.
    """

    def __init__(self, shape: tuple[int, ...], kind: str, standardize: bool = True):
        super().__init__()
        if kind not in ("binary", "int8", "float"):
            raise ValueError(f"unknown weight kind {kind!r}")
        self.kind = kind
        self.standardize = standardize
        self.weight = nn.Parameter(torch.empty(shape))
        fan_in = int(math.prod(shape[1:]))
        # Kaiming-uniform for a linear unit, as torch's default layers initialise.
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)

    def _per_channel(self, v: torch.Tensor) -> torch.Tensor:
        return v.view((-1,) + (1,) * (self.weight.dim() - 1))

    def latent(self) -> torch.Tensor:
        """The weights ``sign`` sees: standardised per channel when asked, else raw."""
        w = self.weight
        if self.kind == "binary" and self.standardize:
            flat = w.flatten(1)
            mean = flat.mean(dim=1)
            std = flat.std(dim=1, unbiased=False)
            w = (w - self._per_channel(mean)) / self._per_channel(std + STANDARDIZE_EPS)
        return w

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(effective weights for the forward pass, integer codes, per-channel scale).

        The effective weights equal ``scale[c] * codes`` in value and carry a
        straight-through gradient to the latent weights. ``float`` returns (w, None, None).
        """
        if self.kind == "float":
            return self.weight, None, None
        w = self.latent()
        if self.kind == "binary":
            codes = torch.where(w >= 0, 1.0, -1.0).detach()
            scale = power_of_two(w.detach().abs().flatten(1).mean(dim=1))
        else:
            codes, scale = int8_codes(w.detach())
        value = self._per_channel(scale) * codes
        # Straight-through: the value of the quantised weights, the gradient of the latent ones.
        effective = w + (value - w).detach()
        return effective, codes, scale


class FoldableBatchNorm(nn.Module):
    """BatchNorm over channel dim 2 of (T, B, C, ...) tensors, returning its affine map.

    ``forward(z)`` returns per-channel ``(a, b)`` with ``BN(z) = a * z + b``: batch
    statistics in training (and the running averages updated, momentum 0.1, unbiased
    variance, as torch's BatchNorm; ``momentum = None`` makes them cumulative averages
    over the batches seen since :meth:`reset_running_stats`), running statistics in eval.
    A negative ``weight`` (gamma) is allowed and folds into a negative ``mult``.
    """

    def __init__(self, n_channels: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(n_channels))
        self.bias = nn.Parameter(torch.zeros(n_channels))
        self.register_buffer("running_mean", torch.zeros(n_channels))
        self.register_buffer("running_var", torch.ones(n_channels))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.int64))

    def reset_running_stats(self) -> None:
        self.running_mean.zero_()
        self.running_var.fill_(1.0)
        self.num_batches_tracked.zero_()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:
            dims = [d for d in range(z.dim()) if d != 2]
            mean = z.mean(dim=dims)
            var = z.var(dim=dims, unbiased=False)
            n = z.numel() // z.shape[2]
            with torch.no_grad():
                unbiased = var * (n / max(n - 1, 1))
                self.num_batches_tracked += 1
                weight = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), weight)
                self.running_var.lerp_(unbiased.detach(), weight)
        else:
            mean, var = self.running_mean, self.running_var
        a = self.weight / torch.sqrt(var + self.eps)
        return a, self.bias - a * mean
