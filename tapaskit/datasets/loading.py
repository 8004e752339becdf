"""``load_dataset``: from a spec string to a :class:`~tapaskit.datasets.dataset.Dataset`."""

from __future__ import annotations

from pathlib import Path

from tapaskit.datasets.builtin import builtin_names, builtin_parameters, is_builtin, load_builtin
from tapaskit.datasets.dataset import Dataset
from tapaskit.datasets.spec import parse_spec, path_exists
from tapaskit.datasets.user import load_path
from tapaskit.datasets.variants import VARIANT_KEYS, Variant
from tapaskit.errors import InvalidOptionError, UnknownDatasetError


def load_dataset(spec: str) -> Dataset:
    """Load a built-in dataset, user data from a path, or a variant of either.

    The base of ``BASE[key=value;...]`` is looked up as a built-in name first (case-insensitive),
    then as a path; write ``./digits`` to load a folder that shares a built-in's name.

    Args:
        spec: E.g. ``"digits"``, ``"fashion-mnist[classes=0,6;n=2000;seed=1]"``,
            ``"shapes[clutter=0.3]"``, ``"~/data/pets"``, ``"scans.npz[size=16;gray=1]"``.

    Returns:
        The dataset, named by the canonical form of the spec (a path stays as given).

    Raises:
        UnknownDatasetError: If the base is neither a built-in nor an existing path.
        InvalidOptionError: On a malformed spec, an unknown key or a bad value.
        DatasetUnavailableError: If a built-in's files or package are missing.
        DataError: If user data are unusable (the message names the file and the problem).
    """
    base, options = parse_spec(spec)
    builtin = _builtin_name(base)
    allowed = VARIANT_KEYS + (builtin_parameters(builtin) if builtin else ())
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise InvalidOptionError(
            f"unknown option '{unknown[0]}' for dataset '{base}'; allowed: {', '.join(allowed)}"
        )
    variant = Variant.from_options({k: v for k, v in options.items() if k in VARIANT_KEYS})
    if builtin:
        generation = {k: v for k, v in options.items() if k not in VARIANT_KEYS}
        dataset, items = load_builtin(builtin, generation)
        return variant.apply(dataset, root=builtin, base_items=items)
    if not path_exists(base):
        shown = ", ".join(builtin_names())
        raise UnknownDatasetError(
            f"unknown dataset '{base}': not a built-in ({shown}) and no such file; "
            f"run `tapas datasets` to list them"
        )
    dataset = load_path(Path(base).expanduser(), name=base, size=variant.size)
    return variant.apply(dataset, root=base)


def _builtin_name(base: str) -> str | None:
    if is_builtin(base):
        return base
    if is_builtin(base.lower()) and not path_exists(base):
        return base.lower()
    return None
