"""The experiment query: which experiments a predictor learns from.

:meth:`~lde.base.ExperimentStore.query` takes loose arguments (a DCN and a window half-width, names
or fingerprints to include or exclude, status and source filters); :meth:`ExperimentQuery.build`
checks them once and turns them into this frozen value, which every store implementation
evaluates the same way.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lde.errors import InvalidArgumentError
from lde.records import DatasetRecord, ExperimentRecord, ExperimentSource, ExperimentStatus

__all__ = ["DCN_TOLERANCE", "ExperimentQuery"]

#: Slack added to both ends of the DCN window so that a dataset exactly on a bound stays inside
#: despite floating-point rounding of ``dcn ± tau`` (e.g. 0.7 - 0.2 = 0.49999999999999994).
DCN_TOLERANCE = 1e-12


def _names(arg_name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise InvalidArgumentError(
            f"{arg_name} must be a string or an iterable of strings, but got {value!r}"
        ) from None
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgumentError(f"{arg_name} must hold strings, but got {item!r}")
    return items


def _members(arg_name: str, enum: type[ExperimentStatus] | type[ExperimentSource],
             value: Any) -> tuple[str, ...] | None:
    items = _names(arg_name, value.value if isinstance(value, enum) else value)
    if items is None:
        return None
    allowed = [m.value for m in enum]
    for item in items:
        if item not in allowed:
            raise InvalidArgumentError(
                f"{arg_name} must hold values among {', '.join(allowed)}, but got {item!r}"
            )
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class ExperimentQuery:
    """A checked experiment query. Build it with :meth:`build`.

    Attributes:
        dcn_low: Lower DCN bound (inclusive), or ``None`` for no window.
        dcn_high: Upper DCN bound (inclusive), or ``None`` for no window.
        include: Dataset names or fingerprints to keep, or ``None`` for all.
        exclude: Dataset names or fingerprints to drop.
        statuses: Status values to keep, or ``None`` for all.
        sources: Source values to keep, or ``None`` for all.
    """

    dcn_low: float | None = None
    dcn_high: float | None = None
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    statuses: tuple[str, ...] | None = ("ok",)
    sources: tuple[str, ...] | None = None

    @classmethod
    def build(
        cls,
        dcn: float | None = None,
        tau: float | None = None,
        *,
        exclude_datasets: Iterable[str] | str = (),
        datasets: Iterable[str] | str | None = None,
        status: Iterable[str] | str | None = ("ok",),
        source: Iterable[str] | str | None = None,
    ) -> ExperimentQuery:
        """Check the arguments of :meth:`~lde.base.ExperimentStore.query`.

        Raises:
            InvalidArgumentError: ``dcn`` without ``tau`` (or the reverse), a negative or
                non-finite ``tau``, a ``dcn`` outside [0, 1], an unknown status or source.
        """
        if (dcn is None) != (tau is None):
            raise InvalidArgumentError(
                f"dcn and tau must be given together, but got dcn={dcn!r}, tau={tau!r}"
            )
        low = high = None
        if dcn is not None:
            for name, value in (("dcn", dcn), ("tau", tau)):
                if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                        or not math.isfinite(value)):
                    raise InvalidArgumentError(f"{name} must be a finite number, but got {value!r}")
            if not 0.0 <= dcn <= 1.0:
                raise InvalidArgumentError(f"dcn must be in [0, 1], but got {dcn}")
            if tau < 0:
                raise InvalidArgumentError(f"tau must be >= 0, but got {tau}")
            low = float(dcn) - float(tau) - DCN_TOLERANCE
            high = float(dcn) + float(tau) + DCN_TOLERANCE
        return cls(
            dcn_low=low,
            dcn_high=high,
            include=_names("datasets", datasets),
            exclude=_names("exclude_datasets", exclude_datasets) or (),
            statuses=_members("status", ExperimentStatus, status),
            sources=_members("source", ExperimentSource, source),
        )

    @property
    def has_window(self) -> bool:
        """Whether the query restricts the DCN (datasets without a DCN then never match)."""
        return self.dcn_low is not None

    def matches_dataset(self, dataset: DatasetRecord) -> bool:
        """Whether experiments on ``dataset`` may match (the dataset part of the query)."""
        return self.matches(dataset.name, dataset.fingerprint, dataset.dcn)

    def matches(self, name: str, fingerprint: str, dcn: float | None) -> bool:
        """:meth:`matches_dataset` on the three values it reads."""
        if self.has_window and (dcn is None or not self.dcn_low <= dcn <= self.dcn_high):
            return False
        if self.include is not None and name not in self.include and fingerprint not in self.include:
            return False
        return name not in self.exclude and fingerprint not in self.exclude

    def matches_experiment(self, experiment: ExperimentRecord) -> bool:
        """Whether ``experiment`` passes the status and source filters."""
        if self.statuses is not None and experiment.status.value not in self.statuses:
            return False
        return self.sources is None or experiment.source.value in self.sources
