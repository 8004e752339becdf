"""tapaskit: train-less accuracy prediction and architecture search for CNNs.

A re-creation of TAPAS (Istrate et al., AAAI 2019). The package stays light on import: torch,
MLflow and LightGBM load only in the modules that use them. Start with :mod:`tapaskit.datasets`,
:mod:`tapaskit.architecture` and :mod:`tapaskit.trainer`; the command line is ``tapas --help``.
"""

from __future__ import annotations

from tapaskit.errors import TapasError

__version__ = "0.1.0"

__all__ = ["TapasError", "__version__"]
