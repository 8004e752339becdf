"""TAP, the train-less accuracy predictor of TAPAS: a scikit-learn regressor around a stacked LSTM.

Usage::

    from tapaskit.predictor import TAPRegressor, select_training_set
    selection = select_training_set(store, dcn=0.42)          # experiments within tau of the DCN
    tap = TAPRegressor(seed=0).fit(selection.frame, selection.frame["peak_accuracy"])
    accuracy = tap.predict(candidates)                         # candidates: architecture_frame(...)

What it learns from (the input frame of :mod:`tapaskit.predictor.inputs`): the networks (encoded
by :mod:`tapaskit.predictor.encoding`), the dataset's DCN and shape, the training
hyperparameters ``lr``/``epochs``/``batch_size`` and the number of training samples where
recorded (the regime), and the zero-cost proxies where the frame has them
(:mod:`tapaskit.predictor.proxies`: each used proxy's value and a presence flag join the
context; ``proxy_dropout`` hides them on a share of the training rows). A context feature that is
constant in the training data (e.g. the DCN in a single-dataset LDE, or a fixed schedule) is
normalised to 0 and so carries nothing; ``use_dcn=False`` / ``use_hparams=False`` drop them
explicitly. Unknown values (NaN) are filled with the training mean.

Training unrolls the chain of :class:`~tapaskit.predictor.network.TAPNetwork` over minibatches
padded to their longest network and regresses the final accuracy: mean squared error, plus
``rank_weight`` times a pairwise logistic ranking loss over pairs of the same dataset in the
minibatch (what Kendall tau measures). AdamW with a cosine learning-rate decay and gradient
clipping. ``n_members`` networks with seeds ``seed, seed + 1, ...`` are averaged; they train side
by side, their weights stacked so that each product runs once for all of them
(:mod:`tapaskit.predictor.stacked`), each exactly as it would alone.

Uncertainty (``predict(X, return_std=True)``): the spread of the ``n_members`` networks'
predictions (with one network: of ``mc_samples`` passes with its training dropout masks, MC
dropout), on top of the training residuals' scale, times ``std_scale`` (docs/predictor.md,
"Uncertainty").

The normalisation statistics, fill values and weights are saved together by :meth:`save` as a
plain dict of tensors plus JSON text, read back with ``torch.load(weights_only=True)``; nothing is
pickled.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tapaskit.checks import check_int, check_number
from tapaskit.errors import DataError, InvalidOptionError
from tapaskit.predictor.base import EncodingPredictor, combined_std
from tapaskit.predictor.encoding import (
    CONTEXT_FEATURES,
    N_CONTEXT,
    N_STEP,
    STEP_FEATURES,
    EncodedFrame,
    encode_frame,
)
from tapaskit.predictor.inputs import PROXY_COLUMNS, group_codes
from tapaskit.predictor.network import StackedScorer, TAPNetwork
from tapaskit.predictor.persistence import SavablePredictor
from tapaskit.predictor.proxies import check_proxy_params, proxy_block, proxy_matrix, used_proxies
from tapaskit.predictor.stacked import StackedTAPNetworks

__all__ = ["TAPRegressor", "FORMAT"]

FORMAT = "tapaskit.tap/1"
_DCN = CONTEXT_FEATURES.index("dcn")
_HPARAMS = [CONTEXT_FEATURES.index(n) for n in ("log10_lr", "log2_epochs", "log2_batch_size",
                                                "log2_train_samples")]
_INV_CLASSES = CONTEXT_FEATURES.index("inv_classes")
_MIN_STD = 1e-6


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, then restore the previous count."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TAPRegressor(SavablePredictor, EncodingPredictor):
    """The TAPAS accuracy predictor (two stacked LSTMs over layer pairs, chained predictions).

    Args:
        hidden_size: units of each of the two LSTMs.
        head_size: hidden units of the regressor head.
        epochs: passes over the training experiments; ``None`` trains for ``train_steps``
            minibatch updates instead, whatever the data size (125 epochs of 500 experiments,
            22 of 3,000), which keeps small training sets from being undertrained and large
            ones within a minute.
        train_steps: minibatch updates when ``epochs`` is ``None``.
        lr: peak learning rate of AdamW (cosine decay to 0).
        batch_size: experiments per minibatch.
        weight_decay: AdamW weight decay.
        rank_weight: weight of the pairwise ranking loss next to the MSE (0 = MSE only).
        dropout: variational dropout rate while training, in [0, 1).
        n_members: networks trained with seeds ``seed .. seed + n_members - 1`` and averaged.
        use_dcn: whether the DCN is an input.
        use_hparams: whether ``lr``/``epochs``/``batch_size`` and the training samples are inputs.
        proxies: the zero-cost proxy columns read where the frame has them
            (:data:`~tapaskit.predictor.inputs.PROXY_COLUMNS` by default; ``()``: none).
        proxy_scaling: ``"raw"``, ``"dataset"`` (z-scores within each dataset of the frame) or
            ``"both"`` (:mod:`tapaskit.predictor.proxies`).
        proxy_dropout: share of the training rows with proxies shown without them in each
            minibatch (drawn anew per minibatch and member), so that rows without proxies are
            predicted well too.
        max_grad_norm: gradient-norm clipping.
        inference_batch_size: rows per forward pass in :meth:`predict`.
        predict_threads: forward passes run side by side in :meth:`predict` (at most one per
            CPU; each with ``n_threads`` torch threads). Batches are independent, so the
            predictions do not depend on it beyond float rounding (1e-7); the speed-up is in
            docs/predictor.md, "Speed".
        length_batches: form each epoch's minibatches from networks of about one length (each
            member's rows in its own random order, then sorted by length; the minibatches in a
            random order), so that the chain is unrolled only as far as they reach: on the
            default LDE about half as far as with minibatches of random lengths.
        std_scale: calibration factor of the standard deviation ``predict(X, return_std=True)``
            returns; 1.6 puts 68-75 % of the true accuracies within one standard deviation on the
            default LDE's unseen datasets (scenarios C and F; docs/predictor.md, "Uncertainty").
        mc_samples: dropout passes whose spread stands for the members' when ``n_members`` is 1.
        seed: seed of the weights and of the minibatch order.
        device: torch device for training and inference (``"cpu"``, ``"cuda"``, ``"auto"``).
        n_threads: torch intra-op threads while fitting and predicting (restored afterwards);
            ``None`` keeps torch's setting. The matrices are small (hidden 32, minibatch 64),
            so one thread is fastest, and on a busy machine several threads lose far more to
            waiting than they gain (docs/predictor.md, "The network and its training").

    Attributes:
        step_mean_, step_std_: normalisation of the step features, ``(N_STEP,)``.
        proxies_: the proxies the training rows held (at least ten rows each), which the fitted
            networks read; the others are ignored.
        context_fill_, context_mean_, context_std_: NaN fill values and normalisation of the
            context features and the proxy block (values, then presence flags),
            ``(N_CONTEXT + ...,)``.
        networks_: the fitted :class:`TAPNetwork` members.
        loss_curve_: mean training loss per epoch (of the first member).
        residual_std_: root mean square of the training residuals (chance-corrected), the floor
            of the predictive standard deviation.
        n_train_: experiments seen by :meth:`fit`.
    """

    file_format = FORMAT
    file_kind = "TAP predictor"

    def __init__(
        self,
        *,
        hidden_size: int = 32,
        head_size: int = 32,
        epochs: int | None = None,
        train_steps: int = 1000,
        lr: float = 3e-3,
        batch_size: int = 64,
        weight_decay: float = 1e-4,
        rank_weight: float = 0.0,
        dropout: float = 0.3,
        n_members: int = 1,
        use_dcn: bool = True,
        use_hparams: bool = True,
        proxies: tuple[str, ...] | None = PROXY_COLUMNS,
        proxy_scaling: str = "raw",
        proxy_dropout: float = 0.3,
        max_grad_norm: float = 1.0,
        inference_batch_size: int = 512,
        predict_threads: int = 2,
        length_batches: bool = False,
        std_scale: float = 1.6,
        mc_samples: int = 8,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
    ) -> None:
        self.hidden_size = hidden_size
        self.head_size = head_size
        self.epochs = epochs
        self.train_steps = train_steps
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.rank_weight = rank_weight
        self.dropout = dropout
        self.n_members = n_members
        self.use_dcn = use_dcn
        self.use_hparams = use_hparams
        self.proxies = proxies
        self.proxy_scaling = proxy_scaling
        self.proxy_dropout = proxy_dropout
        self.max_grad_norm = max_grad_norm
        self.inference_batch_size = inference_batch_size
        self.predict_threads = predict_threads
        self.length_batches = length_batches
        self.std_scale = std_scale
        self.mc_samples = mc_samples
        self.seed = seed
        self.device = device
        self.n_threads = n_threads

    # -- checks and inputs ------------------------------------------------------------------

    def _check_params(self) -> None:
        for name in ("hidden_size", "head_size", "train_steps", "batch_size", "n_members",
                     "inference_batch_size", "predict_threads"):
            check_int(name, getattr(self, name), 1)
        check_int("mc_samples", self.mc_samples, 2)
        check_number("std_scale", self.std_scale, 0.0, open_low=True)
        for name in ("epochs", "n_threads"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        for name in ("lr", "max_grad_norm"):
            check_number(name, getattr(self, name), 0.0, open_low=True)
        for name in ("weight_decay", "rank_weight"):
            check_number(name, getattr(self, name), 0.0)
        check_number("dropout", self.dropout, 0.0, 1.0, open_high=True)
        check_int("seed", self.seed, 0)  # numpy's generators take no negative seed
        check_proxy_params(self.proxies, self.proxy_scaling, self.proxy_dropout)

    def _torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except (RuntimeError, TypeError):
            raise InvalidOptionError(
                f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', but got {self.device!r}"
            ) from None

    def _raw_context(self, encoded: EncodedFrame) -> np.ndarray:
        """The context features, then each used proxy's value(s) (NaN where missing) and its
        presence flag."""
        context = encoded.context.copy()
        if not self.use_dcn:
            context[:, _DCN] = 0.0
        if not self.use_hparams:
            context[:, _HPARAMS] = 0.0
        names = getattr(self, "proxies_", [])
        if not names:
            return context
        matrix = (encoded.proxies if encoded.proxies is not None
                  else np.full((len(context), 2 * len(PROXY_COLUMNS)), np.nan))
        values, present = proxy_block(matrix, names, self.proxy_scaling)
        return np.concatenate([context, values, present], axis=1)

    @property
    def n_context_(self) -> int:
        """Context inputs of the fitted networks: the context features and the proxy block."""
        return len(self.context_mean_)

    def _hidden_context(self) -> np.ndarray:
        """The normalised proxy block of a row without proxies (what proxy dropout shows)."""
        block = slice(N_CONTEXT, self.n_context_)
        n_values = self.n_context_ - N_CONTEXT - len(self.proxies_)
        raw = np.concatenate([self.context_fill_[N_CONTEXT:N_CONTEXT + n_values],
                              np.zeros(len(self.proxies_))])
        return ((raw - self.context_mean_[block]) / self.context_std_[block]).astype(np.float32)

    def _normalised(self, encoded: EncodedFrame) -> tuple[EncodedFrame, np.ndarray, np.ndarray]:
        """Steps and context normalised with the fitted statistics, and ``A_0`` per row."""
        flat = ((encoded.flat - self.step_mean_) / self.step_std_).astype(np.float32)
        context = self._raw_context(encoded)
        a0 = context[:, _INV_CLASSES].astype(np.float32)
        context = np.where(np.isnan(context), self.context_fill_, context)
        context = ((context - self.context_mean_) / self.context_std_).astype(np.float32)
        normalised = EncodedFrame(flat=flat, offsets=encoded.offsets, lengths=encoded.lengths,
                                  context=context)
        return normalised, context, a0

    # -- fit --------------------------------------------------------------------------------

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self._check_params()
        with _threads(self.n_threads):
            self._fit_unchecked(X, y)

    def _fit_unchecked(self, X: pd.DataFrame, y: np.ndarray) -> None:
        device = self._torch_device()
        encoded = encode_frame(X)
        names = check_proxy_params(self.proxies, self.proxy_scaling, self.proxy_dropout)
        matrix = encoded.proxies if encoded.proxies is not None else proxy_matrix(X)
        self.proxies_ = used_proxies(matrix, names)
        flat = encoded.flat.astype(np.float64)
        self.step_mean_ = flat.mean(axis=0)
        std = flat.std(axis=0)
        self.step_std_ = np.where(std < _MIN_STD, 1.0, std)
        context = self._raw_context(encoded)
        with warnings.catch_warnings():  # an all-NaN column (no DCN anywhere) is filled with 0
            warnings.simplefilter("ignore", category=RuntimeWarning)
            fill = np.nanmean(context, axis=0)
        self.context_fill_ = np.where(np.isnan(fill), 0.0, fill)
        filled = np.where(np.isnan(context), self.context_fill_, context)
        self.context_mean_ = filled.mean(axis=0)
        std = filled.std(axis=0)
        self.context_std_ = np.where(std < _MIN_STD, 1.0, std)

        normalised, context, a0 = self._normalised(encoded)
        steps, lengths = normalised.padded()
        groups = group_codes(X)
        data = (
            torch.from_numpy(steps).to(device),
            torch.from_numpy(lengths).to(device),
            torch.from_numpy(context).to(device),
            torch.from_numpy(a0).to(device),
            torch.from_numpy(y.astype(np.float32)).to(device),
            torch.from_numpy(groups).to(device),
        )
        self.y_std_ = float(max(np.std(y), 1e-3))
        self.networks_, self.loss_curve_ = self._train_members(data, device)
        residuals = y - self._predict_unchecked(encoded)
        self.residual_std_ = float(np.sqrt(np.mean(np.square(residuals))))

    def _train_members(self, data: tuple[torch.Tensor, ...], device: torch.device
                       ) -> tuple[list[TAPNetwork], list[float]]:
        """Train the ``n_members`` networks side by side (see :mod:`.stacked`); each has its own
        seed ``seed + k`` for its weights, dropout masks and minibatch order."""
        steps, lengths, context, a0, y, groups = data
        seeds = [self.seed + k for k in range(self.n_members)]
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        members = [TAPNetwork(N_STEP, self.n_context_, self.hidden_size, self.head_size, generator)
                   for generator in generators]
        stacked = StackedTAPNetworks(members).to(device).train()
        optimizer = torch.optim.AdamW(stacked.parameters(), lr=self.lr,
                                      weight_decay=self.weight_decay)  # element-wise: per member
        rngs = [np.random.default_rng(seed) for seed in seeds]
        hiding = self.proxy_dropout > 0 and bool(self.proxies_)
        if hiding:  # proxy dropout: its own generators, so the minibatch order stays as without
            hide_rngs = [np.random.default_rng([seed, 7]) for seed in seeds]
            hidden = torch.from_numpy(self._hidden_context()).to(device)
            block = slice(N_CONTEXT, self.n_context_)
        n = len(y)
        batches_per_epoch = math.ceil(n / self.batch_size)
        epochs = (self.epochs if self.epochs is not None
                  else max(1, math.ceil(self.train_steps / batches_per_epoch)))
        total = epochs * batches_per_epoch
        lengths_np = lengths.cpu().numpy()
        curve: list[float] = []  # of the first member
        step = 0
        for epoch in range(epochs):
            orders = [rng.permutation(n) for rng in rngs]
            starts = np.arange(0, n, self.batch_size)
            if self.length_batches:
                # each member's rows in its own random order, then stably sorted by length, so
                # that minibatch j of every member holds networks of about one length and the
                # chain is unrolled only as far as they reach; the minibatches come in an order
                # that depends on the epoch alone, so a member trains as it would alone
                orders = [order[np.argsort(lengths_np[order], kind="stable")] for order in orders]
                starts = starts[np.random.default_rng([epoch, n]).permutation(len(starts))]
            running = 0.0
            for start in starts:
                idx_np = np.stack([order[start:start + self.batch_size] for order in orders])  # (M, B)
                longest = int(lengths_np[idx_np].max())
                idx = torch.from_numpy(idx_np).to(device)
                for group in optimizer.param_groups:  # cosine decay, per minibatch
                    group["lr"] = self.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
                batch_context = context[idx]  # (M, B, C)
                if hiding:
                    hide = torch.from_numpy(np.stack([
                        r.random(idx_np.shape[1]) < self.proxy_dropout for r in hide_rngs
                    ])).to(device)  # (M, B)
                    batch_context = batch_context.clone()
                    batch_context[..., block] = torch.where(
                        hide.unsqueeze(-1), hidden, batch_context[..., block])
                pred = stacked(steps[idx, :longest], lengths[idx], batch_context, a0[idx],
                               dropout=self.dropout, generators=generators)  # (M, B)
                losses = self._loss(pred, y[idx], groups[idx])  # (M,)
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()  # the members share no weight: each gets its own gradient
                stacked.clip_grad_norms_(self.max_grad_norm)
                optimizer.step()
                running += float(losses[0].detach()) * idx_np.shape[1]
                step += 1
            curve.append(running / n)
        return [network.to(device).eval() for network in stacked.unstack(members)], curve

    def _loss(self, pred: torch.Tensor, y: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """Each member's loss, ``(M,)``, from its predictions, targets and groups, ``(M, B)``."""
        loss = torch.mean((pred - y) ** 2, dim=1)
        if self.rank_weight > 0:
            # pairs of the same dataset whose accuracies differ: logistic loss on the order
            diff_pred = (pred.unsqueeze(2) - pred.unsqueeze(1)) / self.y_std_  # (M, B, B)
            sign = torch.sign(y.unsqueeze(2) - y.unsqueeze(1))
            mask = (groups.unsqueeze(2) == groups.unsqueeze(1)) & (sign != 0)
            pairwise = torch.nn.functional.softplus(-sign * diff_pred) * mask
            pairs = mask.sum(dim=(1, 2))
            # scaled so that the MSE and the ranking terms are of one order of magnitude
            rank = pairwise.sum(dim=(1, 2)) / pairs.clamp(min=1)  # 0 for a member without pairs
            loss = loss + self.rank_weight * self.y_std_ ** 2 * rank
        return loss

    # -- predict ----------------------------------------------------------------------------

    def _predict_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame) -> np.ndarray:
        return self.predict_encoded(encoded)

    def predict_encoded(self, encoded: EncodedFrame) -> np.ndarray:
        """Predict from an already encoded frame (what :meth:`predict` does after encoding).

        Returns the chance-corrected accuracy the network learns (see ``base.py``);
        :meth:`predict` converts it back to plain accuracy.

        Raises:
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        with _threads(self.n_threads):
            return self._predict_unchecked(encoded)

    def _scorer(self) -> StackedScorer:
        """The members stacked for scoring (built once per fitted network list)."""
        cached = self.__dict__.get("_scoring")
        if cached is None or cached[0] is not self.networks_:
            cached = (self.networks_, StackedScorer(self.networks_))
            self.__dict__["_scoring"] = cached
        return cached[1]

    def _predict_std_with_encoding(self, X: pd.DataFrame, encoded: EncodedFrame
                                   ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        with _threads(self.n_threads):
            mean, spread = self._predict_unchecked(encoded, spread=True)
        return mean, combined_std(spread, getattr(self, "residual_std_", 0.0), self.std_scale)

    def _predict_unchecked(self, encoded: EncodedFrame, spread: bool = False
                           ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The members' mean prediction of every row; with ``spread`` also the standard deviation
        of the members' predictions (of ``mc_samples`` dropout passes with one member)."""
        device = next(self.networks_[0].parameters()).device
        normalised, context, a0 = self._normalised(encoded)
        # sorted by length so that each forward pass pads little
        order = np.argsort(normalised.lengths, kind="stable")
        out = np.empty(len(order), dtype=np.float64)
        std = np.empty(len(order), dtype=np.float64) if spread else None
        scorer = self._scorer()
        dropout_passes = None
        if spread and len(self.networks_) == 1:  # MC dropout: the one network, stacked
            dropout_passes = StackedTAPNetworks(self.networks_ * self.mc_samples).to(device)

        def score(batch: tuple[int, np.ndarray]) -> None:
            index, rows = batch
            with torch.inference_mode():  # thread-local, so set in each worker
                steps, lengths = normalised.padded(rows)
                args = (torch.from_numpy(steps).to(device), torch.from_numpy(lengths).to(device),
                        torch.from_numpy(context[rows]).to(device),
                        torch.from_numpy(a0[rows]).to(device))
                members = scorer(*args)  # (M, B)
                out[rows] = members.double().mean(dim=0).cpu().numpy()
                if std is None:
                    return
                if dropout_passes is None:
                    std[rows] = members.double().std(dim=0).cpu().numpy()
                    return
                m = self.mc_samples
                generators = [torch.Generator().manual_seed(self.seed * 1_000_003 + index * m + k)
                              for k in range(m)]
                passes = dropout_passes(*(a.unsqueeze(0).expand(m, *a.shape) for a in args),
                                        dropout=self.dropout, generators=generators)  # (m, B)
                std[rows] = passes.double().std(dim=0).cpu().numpy()

        batches = list(enumerate(order[start:start + self.inference_batch_size]
                                 for start in range(0, len(order), self.inference_batch_size)))
        # torch releases the GIL inside its kernels, so CPU threads overlap; a GPU needs none
        workers = (min(self.predict_threads, os.cpu_count() or 1, len(batches))
                   if device.type == "cpu" else 1)
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(score, batches))  # list() re-raises a worker's exception
        else:
            for batch in batches:
                score(batch)
        return (out, std) if spread else out

    # -- persistence --------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The fitted predictor as JSON-able metadata and plain tensors (see ``persistence.py``).

        Raises:
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        tensors: dict[str, torch.Tensor] = {}
        for k, network in enumerate(self.networks_):
            for name, value in network.state_dict().items():
                tensors[f"member{k}.{name}"] = value.detach().cpu().clone()
        for name in ("step_mean_", "step_std_", "context_fill_", "context_mean_", "context_std_"):
            tensors[name] = torch.from_numpy(np.asarray(getattr(self, name), dtype=np.float64))
        meta = {
            "format": FORMAT,
            "params": self.get_params(),
            "step_features": list(STEP_FEATURES),
            "context_features": list(CONTEXT_FEATURES),
            "proxy_features": list(self.proxies_),
            "n_train": self.n_train_,
            "y_std": self.y_std_,
            "residual_std": self.residual_std_,
            "loss_curve": self.loss_curve_,
        }
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor],
                   source: str | Path = "the state") -> TAPRegressor:
        """The predictor of :meth:`state`'s output.

        Raises:
            DataError: the state was written for another encoding.
        """
        if (meta["step_features"] != list(STEP_FEATURES)
                or meta["context_features"] != list(CONTEXT_FEATURES)):
            raise DataError(f"{source} was written for another encoding; refit the predictor")
        known = cls().get_params()
        params = {k: v for k, v in meta["params"].items() if k in known}
        if isinstance(params.get("proxies"), list):  # JSON has no tuples
            params["proxies"] = tuple(params["proxies"])
        model = cls(**params)
        for name in ("step_mean_", "step_std_", "context_fill_", "context_mean_", "context_std_"):
            setattr(model, name, tensors[name].numpy())
        model.proxies_ = [str(name) for name in meta.get("proxy_features", [])]
        device = model._torch_device()
        model.networks_ = []
        for k in range(model.n_members):
            network = TAPNetwork(N_STEP, model.n_context_, model.hidden_size, model.head_size,
                                 torch.Generator().manual_seed(0))
            prefix = f"member{k}."
            network.load_state_dict({name[len(prefix):]: value for name, value in tensors.items()
                                     if name.startswith(prefix)})
            model.networks_.append(network.to(device).eval())
        model.n_train_ = int(meta["n_train"])
        model.y_std_ = float(meta["y_std"])
        model.residual_std_ = float(meta.get("residual_std", 0.0))  # older files: no floor
        model.loss_curve_ = list(meta["loss_curve"])
        model.is_fitted_ = True
        return model
