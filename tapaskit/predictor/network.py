"""The TAP network: two stacked LSTMs read consecutive layer pairs and chain their predictions.

For a network of steps ``s_0 (input), s_1, ..., s_L (head)`` (see
:mod:`tapaskit.predictor.encoding`), prediction ``t`` (``t = 0 .. L-1``) reads the pair
``(s_t, s_{t+1})``::

    x_t     = [s_t, A_t, s_{t+1}, 0, context]      # A_0 = 1 / classes, the next slot is 0
    h_t     = LSTM2(LSTM1(x_t, state1), state2)    # states carried along the chain
    A_{t+1} = sigmoid(head([h_t, x_t]))            # head: Linear-ReLU-Linear

and ``A_L`` is the network's predicted accuracy. Gradients flow through the whole ``A`` chain.
The head reads the current pair next to the LSTM state (a skip connection: measured slightly
better on held-out networks). The slot of ``s_{t+1}``'s accuracy is always 0, so it has no
weights here; and since ``A_t`` enters the first LSTM linearly, the static part of every input
gate is computed for all steps in one matrix product before the loop (``(B, T-1, 4H)``), leaving
only the recurrent products and ``A_t * w_A`` inside it; likewise the head's product with the
pair is one product before the loop, and only its product with ``h_t`` is inside. Rows of
different lengths share a batch: ``A`` stops changing after a row's last step (a mask), so
padding never reaches the prediction.

Parameters are created and initialised from an explicit :class:`torch.Generator`, so the module
never touches torch's global random state. :class:`TAPNetwork` scores; training (with variational
dropout) runs the members side by side in :mod:`tapaskit.predictor.stacked`, which shares
:func:`lstm_cell` with it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["StackedScorer", "TAPNetwork", "lstm_cell"]


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """``tanh(x)``; when scoring, as ``2 sigmoid(2x) - 1`` (equal to within 2e-7).

    The CPU build of torch we pin computes ``torch.tanh`` about ten times slower than
    ``torch.sigmoid`` on a ``(2048, 32)`` tensor (138 against 15 µs); this form takes 35 µs and
    made scoring 13 % faster. In training (a tensor that records gradients, minibatches of 64)
    it was 10 % slower, so training keeps ``torch.tanh`` and its numerics.
    """
    if x.requires_grad:
        return torch.tanh(x)
    return 2.0 * torch.sigmoid(2.0 * x) - 1.0


def lstm_cell(gates: torch.Tensor, c: torch.Tensor, hidden_size: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step from its pre-activation ``gates`` (``(..., 4H)``, order i, f, g, o) and cell
    state ``c`` (``(..., H)``): the new hidden and cell states."""
    h = hidden_size
    # one sigmoid over all four gates is cheaper than three over slices
    s = torch.sigmoid(gates)  # the g slice is replaced by its tanh below
    c = s[..., h:2 * h] * c + s[..., :h] * _tanh(gates[..., 2 * h:3 * h])
    return s[..., 3 * h:] * _tanh(c), c


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))


class TAPNetwork(nn.Module):
    """Two stacked LSTM cells over layer pairs with a chained accuracy field.

    Args:
        n_step: features of one step (without the accuracy field).
        n_context: context features appended to every pair.
        hidden_size: units of each LSTM.
        head_size: hidden units of the regressor head.
        generator: source of the initial weights.
    """

    def __init__(self, n_step: int, n_context: int, hidden_size: int, head_size: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        h = hidden_size
        n_in = 2 * n_step + n_context
        bound = 1.0 / math.sqrt(h)
        # (in, 4H) layouts so that x @ W needs no transpose; gate order i, f, g, o
        self.w_static = _uniform((n_in, 4 * h), bound, generator)
        self.w_a = _uniform((4 * h,), bound, generator)
        self.w_hh1 = _uniform((h, 4 * h), bound, generator)
        self.b1 = _uniform((4 * h,), bound, generator)
        # second LSTM: input and recurrent weights stacked, applied to [h1, h2] in one product
        self.w2 = _uniform((2 * h, 4 * h), bound, generator)
        self.b2 = _uniform((4 * h,), bound, generator)
        with torch.no_grad():  # remember by default: forget-gate bias 1
            self.b1[h:2 * h] += 1.0
            self.b2[h:2 * h] += 1.0
        # the head reads the second LSTM's state and the current pair itself (a skip connection)
        self.head1_w = _uniform((h + n_in, head_size), 1.0 / math.sqrt(h + n_in), generator)
        self.head1_b = _uniform((head_size,), bound, generator)
        self.head2_w = _uniform((head_size, 1), 1.0 / math.sqrt(head_size), generator)
        self.head2_b = _uniform((1,), 1.0 / math.sqrt(head_size), generator)
        self.hidden_size = h

    def forward(self, steps: torch.Tensor, lengths: torch.Tensor, context: torch.Tensor,
                a0: torch.Tensor) -> torch.Tensor:
        """Run the chain.

        Args:
            steps: ``(B, T, n_step)`` normalised step features, zero-padded.
            lengths: ``(B,)`` steps of each row (>= 2: the input and the head).
            context: ``(B, n_context)`` normalised context features.
            a0: ``(B,)`` the starting accuracy ``1 / classes``.

        Returns:
            ``(B,)`` the predicted accuracy ``A_L`` of every row.
        """
        b, t, _ = steps.shape
        pairs = torch.cat(
            [steps[:, :-1], steps[:, 1:], context.unsqueeze(1).expand(b, t - 1, -1)], dim=2
        )  # (B, T-1, 2F+C)
        h = self.hidden_size
        static = torch.matmul(pairs, self.w_static) + self.b1  # (B, T-1, 4H)
        # the head's product with the pair, for all steps at once: (B, T-1, head)
        head_static = torch.matmul(pairs, self.head1_w[h:]) + self.head1_b
        head_w_state = self.head1_w[:h]
        h1 = c1 = h2 = c2 = steps.new_zeros((b, h))
        a = a0
        for i in range(t - 1):
            gates = torch.addmm(torch.addcmul(static[:, i], a.unsqueeze(1), self.w_a), h1,
                                self.w_hh1)
            h1, c1 = lstm_cell(gates, c1, h)
            gates = torch.addmm(self.b2, torch.cat([h1, h2], dim=1),
                                self.w2)
            h2, c2 = lstm_cell(gates, c2, h)
            hidden = torch.relu(torch.addmm(head_static[:, i], h2,
                                            head_w_state))
            a_next = torch.sigmoid(torch.addmm(self.head2_b, hidden, self.head2_w)).squeeze(1)
            a = torch.where(lengths > i + 1, a_next, a)  # (B,) frozen after the head
        return a


class StackedScorer:
    """Scores with ``M`` fitted :class:`TAPNetwork` members at once (inference only).

    The members' weights are stacked along a leading axis, so that every product of the chain
    runs once for all members (``baddbmm``), and rearranged for speed without changing what is
    computed: the static products of the pair with the first LSTM's gates and with the head are
    one product per step (bias included), the second LSTM's product with ``[h1, h2]`` is two
    products (no concatenation), and the weights and biases of every ``g`` gate are doubled
    (exact in floating point) so that one sigmoid over all gates gives ``sigmoid(2g)`` and
    ``tanh(g) = 2 sigmoid(2g) - 1`` needs no second one. The members' predictions equal
    :meth:`TAPNetwork.forward`'s to float rounding (1e-6; tested).

    Args:
        networks: the fitted members (same sizes), on one device.
    """

    def __init__(self, networks: list[TAPNetwork]) -> None:
        h = networks[0].hidden_size
        self.hidden_size = h
        self.n_members = len(networks)
        double = torch.ones(4 * h, device=networks[0].w_static.device)
        double[2 * h:3 * h] = 2.0  # the g gate

        def stack(get) -> torch.Tensor:
            return torch.stack([get(n).detach() for n in networks]).contiguous()

        with torch.no_grad():
            # (M, P, 4H + head): the pair's products with the first LSTM and with the head
            self.w_in = stack(lambda n: torch.cat([n.w_static * double, n.head1_w[h:]], dim=1))
            self.b_in = stack(lambda n: torch.cat([n.b1 * double, n.head1_b]).unsqueeze(0))
            self.w_a = stack(lambda n: (n.w_a * double).unsqueeze(0))            # (M, 1, 4H)
            self.w_hh1 = stack(lambda n: n.w_hh1 * double)                       # (M, H, 4H)
            self.w2_h1 = stack(lambda n: n.w2[:h] * double)                      # (M, H, 4H)
            self.w2_h2 = stack(lambda n: n.w2[h:] * double)
            self.b2 = stack(lambda n: (n.b2 * double).unsqueeze(0))              # (M, 1, 4H)
            self.head_w = stack(lambda n: n.head1_w[:h])                         # (M, H, head)
            self.head2_w = stack(lambda n: n.head2_w)                            # (M, head, 1)
            self.head2_b = stack(lambda n: n.head2_b.unsqueeze(0))               # (M, 1, 1)

    def __call__(self, steps: torch.Tensor, lengths: torch.Tensor, context: torch.Tensor,
                 a0: torch.Tensor) -> torch.Tensor:
        """Every member's predicted accuracy ``A_L``, ``(M, B)``, for inputs as
        :meth:`TAPNetwork.forward` takes them."""
        m, h = self.n_members, self.hidden_size
        b, t, _ = steps.shape
        pairs = torch.cat([steps[:, :-1], steps[:, 1:],
                           context.unsqueeze(1).expand(b, t - 1, -1)], dim=2)  # (B, T-1, P)
        pairs = pairs.transpose(0, 1).contiguous()                            # (T-1, B, P)
        h1 = c1 = h2 = c2 = steps.new_zeros((m, b, h))
        a = a0.unsqueeze(0).expand(m, b)
        for i in range(t - 1):
            static = torch.baddbmm(self.b_in, pairs[i].expand(m, b, -1), self.w_in)  # (M, B, G)
            gates = torch.baddbmm(torch.addcmul(static[..., :4 * h], a.unsqueeze(2), self.w_a),
                                  h1, self.w_hh1)
            h1, c1 = _scoring_cell(gates, c1, h)
            gates = torch.baddbmm(torch.baddbmm(self.b2, h1, self.w2_h1), h2, self.w2_h2)
            h2, c2 = _scoring_cell(gates, c2, h)
            hidden = torch.relu(torch.baddbmm(static[..., 4 * h:], h2, self.head_w))
            a_next = torch.sigmoid(torch.baddbmm(self.head2_b, hidden, self.head2_w)).squeeze(2)
            a = torch.where(lengths > i + 1, a_next, a)  # (M, B) frozen after the head
        return a


def _scoring_cell(gates: torch.Tensor, c: torch.Tensor, h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lstm_cell` for gates whose ``g`` part is doubled: ``sigmoid`` of it is
    ``sigmoid(2g)``, and ``tanh(g) = 2 sigmoid(2g) - 1``."""
    s = torch.sigmoid(gates)
    g = s[..., 2 * h:3 * h] * 2.0 - 1.0
    c = torch.addcmul(s[..., h:2 * h] * c, s[..., :h], g)
    return s[..., 3 * h:] * (torch.sigmoid(c * 2.0) * 2.0 - 1.0), c
