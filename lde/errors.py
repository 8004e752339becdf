"""Errors of the experiment store. ``lde`` is standalone, so it has its own root."""

from __future__ import annotations


class LDEError(Exception):
    """Root of every error the LDE raises: bad records, unusable files, locks held too long."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InvalidRecordError(LDEError, ValueError):
    """A record that breaks a rule of the schema (accuracy outside [0, 1], unknown status...)."""


class LDEFileError(LDEError, OSError):
    """A file that is not a usable LDE: corrupt, not DuckDB, or from a newer schema version."""


class LDELockedError(LDEError, TimeoutError):
    """Another process held the LDE file longer than the configured lock timeout."""


class ImportFormatError(LDEError, ValueError):
    """An import file whose columns or values do not match the documented format."""


class InvalidArgumentError(LDEError, ValueError):
    """An argument outside its allowed range: a negative DCN window, an unknown status filter..."""


class RecordNotFoundError(LDEError, KeyError):
    """A fingerprint, hash or id that the store does not hold."""


class ReadOnlyStoreError(LDEError, PermissionError):
    """A write to a store that was opened with ``read_only=True``."""
