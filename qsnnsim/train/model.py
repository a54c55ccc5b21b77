"""The torch Q-SNN: a :class:`~.networks.NetSpec` run layer by layer over T timesteps.

Units. A hidden population ``l`` with integer threshold ``theta_l`` (default
``Q = 2^(b-1) - 1``) works in *grid units*: one unit is ``V_th / g_l`` with
``g_l = theta_l + 1``, so its b-bit membrane spans ``[-Q, Q]`` grid units and it spikes when
the integer ``h`` exceeds ``theta_l`` (``h >= g_l``, i.e. ``V >= V_th``). The grid is static
(fixed per layer, not recomputed per batch as the seed's tanh grid is): the BatchNorm in
front of it learns the scale of the currents relative to it.

Quantised forward, per timestep t (the fake-quantised twin of DESIGN §2; :mod:`.fold`
turns the same quantities into integers):

    z_p   = synapses_p(x)                            (x: spikes, or the int8 image * scale)
    I     = sum_p floor(g * a_p[c] * z_p)            (a_p, b_p: BatchNorm as an affine map)
    bias  = round(g * sum_p b_p[c])
    h     = floor(m / 2) + I + bias
    s     = h > theta                                (arctan surrogate gradient)
    m     = clamp(0 if s else h, -Q, Q)

Every floor/round is straight-through. The float baseline (``float_mode``) drops the
quantisers: float weights, ``h = m / 2 + a * z + b`` in units of V_th, ``s = h > 1``, hard
reset, no clamp. Pool populations take the max of their source's spikes; the readout's
logits at step t are ``sum_p z_p + bias`` and the prediction is the argmax of their sum
over T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qsnnsim.train.networks import NetSpec, ProjSpec
from qsnnsim.train.quant import (
    FoldableBatchNorm,
    WeightQuantizer,
    floor_ste,
    round_ste,
    spike,
)
from qsnnsim.workload import membrane_limit


class QSNN(nn.Module):
    """A quantisation-aware (or float) spiking network built from a NetSpec.

    Parameters
    ----------
    spec : NetSpec
        Topology.
    timesteps : int
        T.
    membrane_bits : int
        b of every hidden membrane (ignored in ``float_mode``).
    float_mode : bool
        Full-precision baseline (float weights and membranes).
    ws_dr : bool
        Standardise binary layers' latent weights (the weight half of WS-DR).
    input_scale : float
        Float value of one int8 input code (1 for a spike input).
    input_kind : str
        ``analog`` (int8 codes) or ``spikes`` (a 0/1 frame, the same at every timestep);
        the fold uses it to size the first accumulators.
    """

    def __init__(self, spec: NetSpec, timesteps: int, membrane_bits: int, float_mode: bool = False,
                 ws_dr: bool = True, input_scale: float = 1.0, input_kind: str = "analog"):
        super().__init__()
        if input_kind not in ("analog", "spikes"):
            raise ValueError(f"input_kind must be analog or spikes (got {input_kind!r})")
        self.spec = spec
        self.input_kind = input_kind
        self.timesteps = int(timesteps)
        self.membrane_bits = int(membrane_bits)
        self.float_mode = bool(float_mode)
        self.input_scale = float(input_scale)
        self.weights = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for proj in spec.projections:
            if proj.kind in ("conv2d", "linear"):
                kind = "float" if float_mode else proj.weight_kind
                self.weights[proj.name] = WeightQuantizer(self.weight_shape(proj), kind, standardize=ws_dr)
            if proj.has_bn:
                self.norms[proj.name] = FoldableBatchNorm(spec.pop(proj.target).shape[0])
        self.readout_bias = nn.Parameter(torch.zeros(spec.n_classes))
        # Static per-layer grid: the integer threshold fixes the grid step V_th / (theta + 1).
        self.theta_int = {name: membrane_limit(self.membrane_bits) for name in spec.lif_names}

    def weight_shape(self, proj: ProjSpec) -> tuple[int, ...]:
        """Shape of a conv2d/linear projection's weights (output channels first)."""
        src, tgt = self.spec.pop(proj.source), self.spec.pop(proj.target)
        if proj.kind == "conv2d":
            return (tgt.shape[0], src.shape[0]) + tuple(proj.kernel)
        n_in = src.shape[0] if proj.global_sum_pool else int(torch.Size(src.shape).numel())
        return (tgt.shape[0], n_in)

    def grid_scale(self, pop_name: str) -> int:
        """g = theta + 1: grid units per V_th of a hidden population."""
        return self.theta_int[pop_name] + 1

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run a batch.

        Parameters
        ----------
        x : torch.Tensor
            float (B, *input_shape): int8 codes times ``input_scale``, or a 0/1 spike
            frame (the same at every timestep).

        Returns
        -------
        logits : torch.Tensor
            float (T, B, n_classes), the readout's per-timestep logits.
        spikes : dict[str, torch.Tensor]
            float 0/1 (T, B, *shape) of every hidden lif population.
        """
        values: dict[str, torch.Tensor] = {"input": x.unsqueeze(0)}
        spikes: dict[str, torch.Tensor] = {}
        logits = None
        for pop in self.spec.populations:
            incoming = self.spec.projections_into(pop.name)
            if pop.kind == "input":
                continue
            if pop.kind == "pool":
                (proj,) = incoming
                v = values[proj.source]
                out = F.max_pool2d(v.flatten(0, 1), proj.kernel, proj.stride, proj.padding)
                values[pop.name] = out.view(v.shape[:2] + out.shape[1:])
            elif pop.kind == "readout":
                z = sum(self._synapse(p, values[p.source]) for p in incoming) + self.readout_bias
                logits = z.expand((self.timesteps,) + z.shape[1:])
            else:
                current, bias = self._currents(pop.name, incoming, values)
                values[pop.name] = spikes[pop.name] = self._lif(pop.name, current, bias)
        return logits, spikes

    def _synapse(self, proj: ProjSpec, v: torch.Tensor) -> torch.Tensor:
        """Synaptic sum of a (T', B, ...) source, (T', B, *target_shape)."""
        flat = v.flatten(0, 1)
        if proj.kind == "conv2d":
            w, _, _ = self.weights[proj.name].quantized()
            out = F.conv2d(flat, w, stride=proj.stride, padding=proj.padding)
        elif proj.kind == "linear":
            w, _, _ = self.weights[proj.name].quantized()
            inp = flat.sum(dim=(-2, -1)) if proj.global_sum_pool else flat.flatten(1)
            out = F.linear(inp, w)
        elif proj.kind == "identity":
            out = flat
        else:
            raise ValueError(f"{proj.name}: {proj.kind} does not feed a lif or readout population here")
        return out.view(v.shape[:2] + out.shape[1:])

    def _currents(self, pop_name: str, incoming, values) -> tuple[torch.Tensor, torch.Tensor]:
        """(input current (T' or T, B, ...), per-channel bias (C,)) of a hidden population."""
        g = 1.0 if self.float_mode else float(self.grid_scale(pop_name))
        current = 0.0
        bias = torch.zeros(self.spec.pop(pop_name).shape[0])
        for proj in incoming:
            z = self._synapse(proj, values[proj.source])
            if proj.has_bn:
                a, b = self.norms[proj.name](z)
                lin = g * channel_view(a, z) * z
                bias = bias + b
            else:
                lin = g * z
            current = current + (lin if self.float_mode else floor_ste(lin))
        bias = g * bias if self.float_mode else round_ste(g * bias)
        return current, bias

    def _lif(self, pop_name: str, current: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """LIF over T (leak 0.5, hard reset, strict threshold); spikes (T, B, ...)."""
        T = self.timesteps
        current = current.expand((T,) + current.shape[1:])
        bias = channel_view(bias, current)
        m = torch.zeros_like(current[0])
        out = []
        if self.float_mode:
            for t in range(T):
                h = 0.5 * m + current[t] + bias
                s = spike(h - 1.0, 1.0)
                # Detached reset: the gradient flows through the membrane, not the reset.
                m = h * (1.0 - s.detach())
                out.append(s)
            return torch.stack(out)
        theta = self.theta_int[pop_name]
        q = membrane_limit(self.membrane_bits)
        for t in range(T):
            h = floor_ste(0.5 * m) + current[t] + bias
            # h is an integer, so h > theta is h - (theta + 0.5) > 0; the surrogate spans
            # one V_th (g grid units).
            s = spike(h - (theta + 0.5), theta + 1)
            m = torch.clamp(h * (1.0 - s.detach()), -q, q)
            out.append(s)
        return torch.stack(out)


def channel_view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-channel (C,) vector shaped to broadcast over (T, B, C, ...) like ``like``."""
    return v.view((-1,) + (1,) * (like.dim() - 3))


def spike_rate_loss(spikes: dict[str, torch.Tensor]) -> torch.Tensor:
    """WS-DR's spike regulation: mean over hidden layers of (firing rate - 0.5)^2.

    A rate of 0.5 maximises the entropy of a binary spike, hence the information a layer
    can pass on (Wei et al. 2024, §3.3).
    """
    terms = [(s.mean() - 0.5) ** 2 for s in spikes.values()]
    return torch.stack(terms).mean()


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every timestep's logits, averaged over T (and the batch)."""
    T = logits.shape[0]
    return F.cross_entropy(logits.flatten(0, 1), labels.repeat(T))
