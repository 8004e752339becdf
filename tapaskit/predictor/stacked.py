"""Several TAP networks trained side by side as one: their weights stacked, their products batched.

TAP averages ``n_members`` networks (the default ensemble trains three). Trained one after the
other, each pays the full cost of a minibatch update, and with hidden size 32 and minibatches of
64 that cost is mostly torch's per-operation overhead, not arithmetic. :class:`StackedTAPNetworks`
holds the members' weights along a leading member axis and runs every product of the chain as one
batched product (``bmm``) for all members, so one update of all members costs little more than
one of a single network.

Each member trains as it would alone: its own initial weights (those of its
:class:`~tapaskit.predictor.network.TAPNetwork`) and dropout masks from its own generator, its
own minibatch order, its own gradient-norm clipping, and AdamW, which is element-wise, over its
own slice of the stacked weights; with one member this is exactly the plain training loop. After
training, :meth:`StackedTAPNetworks.unstack` writes the weights back into the
:class:`TAPNetwork` members, which score and are saved as ever.
"""

from __future__ import annotations

import torch
from torch import nn

from tapaskit.predictor.network import TAPNetwork, lstm_cell

__all__ = ["StackedTAPNetworks"]


def _dropout_mask(shape: tuple[int, ...], p: float, generator: torch.Generator | None,
                  like: torch.Tensor) -> torch.Tensor:
    """A dropout mask of ``shape`` (kept entries ``1 / (1 - p)``) on ``like``'s device and dtype."""
    keep = torch.rand(shape, generator=generator).to(like.device) >= p
    return keep.to(like.dtype) / (1.0 - p)


class StackedTAPNetworks(nn.Module):
    """``M`` :class:`TAPNetwork` members with their weights stacked along a leading axis.

    Args:
        members: freshly initialised networks of one shape (their weights are copied).
    """

    def __init__(self, members: list[TAPNetwork]) -> None:
        super().__init__()
        self.hidden_size = members[0].hidden_size
        self.n_members = len(members)
        # registered in the members' order, so parameters() pairs up with theirs
        self.names = tuple(name for name, _ in members[0].named_parameters())
        for name in self.names:
            stacked = torch.stack([getattr(m, name).detach() for m in members]).clone()
            setattr(self, name, nn.Parameter(stacked))

    def unstack(self, template: list[TAPNetwork]) -> list[TAPNetwork]:
        """The trained members, written into ``template`` (networks of the same shape)."""
        with torch.no_grad():
            for k, network in enumerate(template):
                for name in self.names:
                    getattr(network, name).copy_(getattr(self, name)[k])
        return template

    def clip_grad_norms_(self, max_norm: float) -> None:
        """Clip each member's gradient to ``max_norm`` as ``clip_grad_norm_`` does for one
        network: scaled by ``max_norm / (norm + 1e-6)`` when that is below 1."""
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        squares = torch.stack([g.pow(2).reshape(self.n_members, -1).sum(dim=1) for g in grads])
        scale = (max_norm / (squares.sum(dim=0).sqrt() + 1e-6)).clamp(max=1.0)  # (M,)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))

    def forward(self, steps: torch.Tensor, lengths: torch.Tensor, context: torch.Tensor,
                a0: torch.Tensor, *, dropout: float = 0.0,
                generators: list[torch.Generator] | None = None) -> torch.Tensor:
        """Run every member's chain on its own minibatch.

        Args:
            steps: ``(M, B, T, n_step)`` normalised step features, zero-padded.
            lengths: ``(M, B)`` steps of each row.
            context: ``(M, B, n_context)``.
            a0: ``(M, B)`` the starting accuracy ``1 / classes``.
            dropout: variational dropout rate: one mask per row, the same at every step, on the
                pair inputs, on the first LSTM's output and on the head's input.
            generators: one per member, the source of its dropout masks.

        Returns:
            ``(M, B)`` the predicted accuracy ``A_L`` of every row of every member.
        """
        m, b, t, _ = steps.shape
        h = self.hidden_size
        pairs = torch.cat(
            [steps[:, :, :-1], steps[:, :, 1:], context.unsqueeze(2).expand(m, b, t - 1, -1)],
            dim=3,
        )  # (M, B, T-1, P)
        if dropout > 0:
            masks = [[_dropout_mask(shape, dropout, g, pairs)
                      for shape in ((b, 1, pairs.shape[3]), (b, h), (b, h))]
                     for g in generators or [None] * m]
            pairs = pairs * torch.stack([k[0] for k in masks])
            mask1, mask2 = torch.stack([k[1] for k in masks]), torch.stack([k[2] for k in masks])
        # all steps' static products at once, one (B (T-1), P) matrix per member: a broadcast
        # matmul would materialise a weight gradient per row in the backward pass
        flat = pairs.reshape(m, b * (t - 1), -1)
        static = torch.baddbmm(self.b1.unsqueeze(1), flat, self.w_static).view(m, b, t - 1, -1)
        head_static = torch.baddbmm(self.head1_b.unsqueeze(1), flat,
                                    self.head1_w[:, h:]).view(m, b, t - 1, -1)  # (M, B, T-1, head)
        head_w_state = self.head1_w[:, :h]
        # per-step views by unbind: its backward stacks the steps' gradients once, where
        # indexing step i would add a zero-filled gradient of the whole tensor per step
        static, head_static = static.unbind(2), head_static.unbind(2)
        w_a = self.w_a.unsqueeze(1)
        h1 = c1 = h2 = c2 = steps.new_zeros((m, b, h))
        a = a0
        for i in range(t - 1):
            gates = torch.baddbmm(torch.addcmul(static[i], a.unsqueeze(2), w_a), h1, self.w_hh1)
            h1, c1 = lstm_cell(gates, c1, h)
            gates = torch.baddbmm(self.b2.unsqueeze(1),
                                  torch.cat([h1 * mask1 if dropout > 0 else h1, h2], dim=2), self.w2)
            h2, c2 = lstm_cell(gates, c2, h)
            hidden = torch.relu(torch.baddbmm(head_static[i],
                                              h2 * mask2 if dropout > 0 else h2, head_w_state))
            a_next = torch.sigmoid(torch.baddbmm(self.head2_b.unsqueeze(1), hidden,
                                                 self.head2_w)).squeeze(2)
            a = torch.where(lengths > i + 1, a_next, a)  # (M, B) frozen after the head
        return a
