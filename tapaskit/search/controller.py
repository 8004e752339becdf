"""The recurrent policy that emits architectures token by token, batched and masked.

An LSTM cell reads the embedding of the previous token (a start token first) and a linear head
turns its hidden state into logits over the whole vocabulary of
:class:`~tapaskit.search.tokens.TokenGrammar`. At every step each sequence of the batch masks the
logits with its own :meth:`~tapaskit.search.tokens.DecodeState.allowed` set, so the batch advances
in lock-step while every network follows its own path through the grammar; a finished sequence
stays in the batch with a dummy token, contributing nothing, until all are done.

Logits are squashed as in ENAS (Pham et al., 2018): ``tanh_constant * tanh(logits / temperature)``,
which keeps every allowed token's probability above ``exp(-2 * tanh_constant)`` relative to the
best one, so the policy keeps exploring even late in a search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tapaskit.search.tokens import DecodeState, TokenGrammar

_MASKED = -1e9  # not -inf: keeps p * log p at 0 (not NaN) for masked tokens in the entropy


@dataclass(frozen=True)
class PolicySample:
    """A batch drawn from the policy, with what :meth:`Controller.evaluate` needs to score it.

    Attributes:
        states: the finished decode states (``tokens``, ``architecture()``), one per sample.
        tokens: ``(B, T)`` chosen token ids, 0 after a sequence's end.
        mask: ``(B, T, V)`` allowed tokens at each step.
        valid: ``(B, T)`` 1.0 where the step belongs to the sequence, 0.0 after its end.
    """

    states: list[DecodeState]
    tokens: torch.Tensor
    mask: torch.Tensor
    valid: torch.Tensor


class Controller(nn.Module):
    """An LSTM policy over the grammar's tokens.

    Sampling (:meth:`sample`) runs step by step without autograd; :meth:`evaluate` then recomputes
    the log-probabilities and entropies of the sampled sequences in one teacher-forced pass of the
    fused LSTM, which is many times cheaper to differentiate than a step-by-step graph.

    Args:
        vocab_size: tokens in the grammar.
        hidden_size: LSTM width (embeddings have the same width).
        tanh_constant: logit bound ``C`` in ``C * tanh(logits / temperature)``; ``None`` for raw
            logits.
        temperature: logit temperature (> 0).
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        hidden_size: int = 64,
        tanh_constant: float | None = 2.5,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        self.embed = nn.Embedding(vocab_size + 1, hidden_size)  # the last id is the start token
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)
        self._mask_rows: dict[tuple[int, ...], np.ndarray] = {}

    def _row(self, allowed: tuple[int, ...]) -> np.ndarray:
        row = self._mask_rows.get(allowed)
        if row is None:
            row = np.zeros(self.vocab_size, dtype=bool)
            row[list(allowed)] = True
            self._mask_rows[allowed] = row
        return row

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden)
        if self.tanh_constant is not None:
            return self.tanh_constant * torch.tanh(logits / self.temperature)
        return logits / self.temperature if self.temperature != 1.0 else logits

    @torch.no_grad()
    def sample(
        self,
        grammar: TokenGrammar,
        input_shape: Sequence[int],
        n: int,
        generator: torch.Generator,
        *,
        greedy: bool = False,
    ) -> PolicySample:
        """Draw ``n`` complete networks (no autograd; see :meth:`evaluate`).

        A token is drawn by inverse-CDF sampling of the masked distribution with one uniform
        number from ``generator`` per row and step, the only source of randomness.

        Args:
            grammar: the grammar (its size must be ``vocab_size``).
            input_shape: the dataset's ``(C, H, W)``; masks depend on it.
            n: batch size.
            generator: a CPU ``torch.Generator``.
            greedy: take the most likely allowed token instead of sampling.
        """
        states = [grammar.start(input_shape) for _ in range(n)]
        dummy = (0,)
        lstm = self.lstm
        weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        h = torch.zeros(n, self.hidden_size)  # (B, H)
        c = torch.zeros(n, self.hidden_size)  # (B, H)
        prev = torch.full((n,), self.vocab_size, dtype=torch.long)  # (B,) the start token
        active = np.ones(n, dtype=bool)
        steps_tokens: list[torch.Tensor] = []
        steps_masks: list[np.ndarray] = []
        steps_valid: list[np.ndarray] = []
        while active.any():
            h, c = torch.lstm_cell(self.embed(prev), (h, c), *weights)
            logits = self._logits(h)  # (B, V)
            mask_np = np.stack(
                [self._row(s.allowed() if a else dummy) for s, a in zip(states, active)]
            )
            mask = torch.from_numpy(mask_np)  # (B, V)
            masked = logits.masked_fill(~mask, _MASKED)
            if greedy:
                choice = masked.argmax(dim=-1)
            else:
                cdf = torch.softmax(masked, dim=-1).cumsum(dim=-1)  # (B, V)
                u = torch.rand(n, 1, generator=generator) * cdf[:, -1:]
                # the first token whose cdf exceeds u: never a masked one (its cdf step is 0)
                choice = torch.searchsorted(cdf, u, right=True).squeeze(1)
                choice = choice.clamp_(max=self.vocab_size - 1)
            steps_tokens.append(choice)
            steps_masks.append(mask_np)
            steps_valid.append(active.copy())
            chosen = choice.tolist()
            for i in np.flatnonzero(active):
                states[i].push(chosen[i], check=False)  # the mask allowed it
                if states[i].done:
                    active[i] = False
            prev = choice
        return PolicySample(
            states=states,
            tokens=torch.stack(steps_tokens, dim=1),  # (B, T)
            mask=torch.from_numpy(np.stack(steps_masks, axis=1)),  # (B, T, V)
            valid=torch.from_numpy(np.stack(steps_valid, axis=1).astype(np.float32)),  # (B, T)
        )

    def evaluate(self, sample: PolicySample) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of each sampled sequence, differentiable.

        Returns:
            ``(log_prob, entropy)``, each ``(B,)``: sums over the steps of each sequence, the
            entropy being that of the masked token distribution at each step.
        """
        tokens = sample.tokens  # (B, T)
        start = torch.full((tokens.shape[0], 1), self.vocab_size, dtype=torch.long)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)  # (B, T) teacher forcing
        hidden, _ = self.lstm(self.embed(inputs))  # (B, T, H)
        logits = self._logits(hidden).masked_fill(~sample.mask, _MASKED)  # (B, T, V)
        logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
        chosen = logp.gather(2, tokens[:, :, None]).squeeze(2)  # (B, T)
        entropy = -(logp.exp() * logp).sum(dim=-1)  # (B, T)
        return (chosen * sample.valid).sum(dim=1), (entropy * sample.valid).sum(dim=1)


__all__ = ["Controller", "PolicySample"]
