"""Import the MetaQNN CSV layout (Baker et al. 2018) into an LDE.

Columns: ``net`` (a MetaQNN layer string), ``training_dataset``, ``num_params``, ``depth``, ``lr``
and ``acc_1`` … ``acc_E`` (validation accuracy after each epoch). Each row becomes one experiment:

- the layer string is parsed by :mod:`tapaskit.space.formats` into the canonical architecture;
- the dataset is named by ``training_dataset``; its input shape and size are known for the
  datasets MetaQNN used (CIFAR-10/100, SVHN, MNIST) and otherwise given by the caller; the class
  count comes from the network's ``SM(n)``; the DCN stays unknown (NULL) unless given;
- the curve is kept, the peak accuracy is the maximum of the curve, the final accuracy its last
  value; hyperparameters: ``lr`` from the file, epochs = the number of ``acc_`` columns, and
  MetaQNN's documented schedule (Adam, batch 128);
- params/FLOPs are recomputed by :func:`tapaskit.space.shapes.infer_shapes` (the file's ``num_params``
  is kept in ``extra_hparams`` for comparison);
- every row has an idempotency key, so importing the same file twice adds nothing.

Every row is validated before anything is written; a bad row raises
:class:`lde.errors.ImportFormatError` naming the row and the problem, and the LDE is unchanged.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from lde import ArchitectureRecord, DatasetRecord, ExperimentRecord, ExperimentStore, ImportReport
from lde.errors import ImportFormatError, InvalidRecordError

from tapaskit.errors import TapasError
from tapaskit.space.formats import parse_metaqnn
from tapaskit.space.shapes import infer_shapes

REQUIRED_COLUMNS = ("net", "training_dataset", "lr")
#: Input shape (C, H, W) and training-set size of the datasets MetaQNN was run on.
KNOWN_DATASETS: dict[str, tuple[tuple[int, int, int], int]] = {
    "cifar10": ((3, 32, 32), 50_000),
    "cifar100": ((3, 32, 32), 50_000),
    "svhn": ((3, 32, 32), 73_257),
    "mnist": ((1, 28, 28), 60_000),
}
_ACC_COLUMN = re.compile(r"^acc_(\d+)$")


def _fingerprint(name: str) -> str:
    """A stable stand-in fingerprint: the images themselves are not in the file."""
    return hashlib.blake2b(f"metaqnn:{name}".encode(), digest_size=8).hexdigest()


def read_metaqnn(
    path: str | Path,
    *,
    dcn: float | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_samples: int | None = None,
) -> tuple[list[DatasetRecord], list[ArchitectureRecord], list[ExperimentRecord]]:
    """Parse and validate a MetaQNN CSV into LDE records, writing nothing.

    Raises:
        ImportFormatError: missing columns, an unparsable net, accuracies outside [0, 1]...
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ImportFormatError(f"cannot read {path} as CSV: {exc}".splitlines()[0]) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    acc_columns = sorted((c for c in frame.columns if _ACC_COLUMN.match(str(c))),
                         key=lambda c: int(_ACC_COLUMN.match(c).group(1)))
    if missing or not acc_columns:
        need = missing + ([] if acc_columns else ["acc_1..acc_E"])
        raise ImportFormatError(f"{path} is missing MetaQNN columns: {', '.join(need)}")

    datasets: dict[str, DatasetRecord] = {}
    architectures: dict[str, ArchitectureRecord] = {}
    experiments: list[ExperimentRecord] = []
    for row_number, row in enumerate(frame.itertuples(index=False), start=2):  # line 1 is the header
        where = f"{path.name} row {row_number}"
        name = str(getattr(row, "training_dataset"))
        try:
            arch, classes = parse_metaqnn(str(getattr(row, "net")))
            shape, size = KNOWN_DATASETS.get(name.lower(), (input_shape, num_samples))
            if shape is None:
                raise ImportFormatError(
                    f"{where}: unknown dataset {name!r}; give its input shape (--input-shape C,H,W)")
            classes = classes or 10
            summary = infer_shapes(arch, shape, classes)
            curve = [float(v) for v in (getattr(row, c) for c in acc_columns) if pd.notna(v)]
            if not curve:
                raise ImportFormatError(f"{where}: no accuracy values in {acc_columns[0]}..{acc_columns[-1]}")
            if name not in datasets:
                datasets[name] = DatasetRecord(
                    fingerprint=_fingerprint(name), name=name, input_shape=shape, num_classes=classes,
                    num_samples=size or 1, dcn=dcn, dcn_probe=None if dcn is None else "given")
            architectures.setdefault(arch.arch_hash, ArchitectureRecord(
                arch_hash=arch.arch_hash, arch_json=arch.to_json(), depth=arch.depth, num_layers=len(arch)))
            file_params = getattr(row, "num_params", None)
            experiments.append(ExperimentRecord(
                arch_hash=arch.arch_hash, dataset_fingerprint=datasets[name].fingerprint,
                peak_accuracy=max(curve), final_accuracy=curve[-1], curve=tuple(curve), status="ok",
                source="import", lr=float(getattr(row, "lr")), epochs=len(acc_columns), batch_size=128,
                optimizer="adam", weight_decay=None,
                extra_hparams={"metaqnn_num_params": None if pd.isna(file_params) else int(file_params),
                               "origin": "metaqnn"},
                params=summary.params, flops=summary.flops,
                key=f"metaqnn:{name}:{row_number}:{arch.arch_hash}"))
        except (InvalidRecordError, TapasError) as exc:
            raise ImportFormatError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ImportFormatError(f"{where}: {exc}") from None
    return list(datasets.values()), list(architectures.values()), experiments


def import_metaqnn(
    store: ExperimentStore,
    path: str | Path,
    *,
    dcn: float | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_samples: int | None = None,
) -> ImportReport:
    """Validate a MetaQNN CSV, then add it to ``store`` in one atomic batch.

    Returns:
        What was imported: ``inserted`` experiments added, ``skipped`` already stored (all of
        them when the file was imported before); ``format`` is ``"metaqnn"``.
    """
    datasets, architectures, experiments = read_metaqnn(
        path, dcn=dcn, input_shape=input_shape, num_samples=num_samples)
    inserted = store.add_experiments(experiments, architectures=architectures, datasets=datasets)
    return ImportReport(
        path=Path(path), format="metaqnn", rows=len(experiments), experiments=len(experiments),
        inserted=inserted, skipped=len(experiments) - inserted, datasets=len(datasets),
        architectures=len(architectures), batches=1)
