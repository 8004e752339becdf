"""The IDX file format of MNIST-style datasets (``*-idx3-ubyte``, optionally gzip-compressed).

An IDX file starts with two zero bytes, a type code, the number of dimensions, then one big-endian
uint32 per dimension, then the values in row-major order (big-endian for multi-byte types).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from tapaskit.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder(">"): code for code, dtype in _TYPES.items()}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not.

    Args:
        path: The file.

    Returns:
        The array with the shape stored in the header (native byte order).

    Raises:
        DataError: If the file is not IDX (wrong magic bytes) or is shorter than its header says.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path} is not a valid gzip file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(
            f"{path} is not an IDX file: magic bytes {raw[:4].hex()} should be 0000TTDD "
            f"(TT a type code in {sorted(f'{c:02x}' for c in _TYPES)}, DD the dimensions)"
        )
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path} is not an IDX file: header declares {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape))
    available = (len(raw) - header) // dtype.itemsize
    if available < count:
        dims = "x".join(str(d) for d in shape)
        raise DataError(f"{path} is truncated: header says {dims} values, found {available}")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an array as an IDX file, gzip-compressed when the name ends in ``.gz``.

    Args:
        path: Destination file.
        array: Values of a dtype IDX can store (uint8, int8, int16, int32, float32, float64).

    Raises:
        DataError: If the dtype cannot be stored in IDX.
    """
    big = array.dtype.newbyteorder(">")
    if big not in _CODES:
        raise DataError(
            f"IDX cannot store dtype {array.dtype}; "
            "use one of uint8, int8, int16, int32, float32, float64"
        )
    header = bytes([0, 0, _CODES[big], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=big).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, compresslevel=1) if path.suffix == ".gz" else payload)
