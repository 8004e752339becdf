"""The CNN search space: what a network is, what shapes it computes, and how to read one.

Pure Python and no torch on import (the search controller infers thousands of shapes a second):

- :mod:`~tapaskit.space.architecture`: the layer records and :class:`Architecture` (canonical
  JSON, content hash, depth);
- :mod:`~tapaskit.space.shapes`: :func:`infer_shapes` (per-layer shapes, parameters, FLOPs,
  memory), which rejects invalid networks before any module is built;
- :mod:`~tapaskit.space.formats`: :func:`parse_architecture` for every text form a user types,
  :func:`parse_metaqnn` for MetaQNN strings;
- :mod:`~tapaskit.space.sampler`: :class:`ArchitectureSampler`, seeded random valid networks.

The torch side lives beside them and is imported by path: :mod:`tapaskit.space.builder`
(``build_module``) and :mod:`tapaskit.space.export` (``write_model_files``).

Example:
    >>> from tapaskit.space import infer_shapes, parse_architecture
    >>> net = parse_architecture("[C(8,3,1), P(2,2), SM(10)]")
    >>> infer_shapes(net, (1, 28, 28), 10).params
    15770
"""

from __future__ import annotations

from tapaskit.space.architecture import Architecture
from tapaskit.space.formats import parse_architecture, parse_metaqnn
from tapaskit.space.sampler import ArchitectureSampler
from tapaskit.space.shapes import NetworkSummary, infer_shapes

__all__ = [
    "Architecture",
    "ArchitectureSampler",
    "NetworkSummary",
    "infer_shapes",
    "parse_architecture",
    "parse_metaqnn",
]
