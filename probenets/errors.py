"""Errors of the probe nets. ``probenets`` is standalone, so it has its own root."""

from __future__ import annotations


class ProbeError(Exception):
    """Root of every error probenets raises for unusable input (one class, too few samples...)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownProbeError(ProbeError, KeyError):
    """A probe name that is not registered."""


class ProbeInputError(ProbeError, ValueError):
    """Data that cannot be characterised: wrong shape, NaN/inf, bad labels, too few samples."""


class ProbeOptionError(ProbeError, ValueError):
    """An option of the characterisation out of its range (epochs, batch size, device...)."""


class ProbeTrainingError(ProbeError, RuntimeError):
    """The probe's training loss became NaN or infinite."""
