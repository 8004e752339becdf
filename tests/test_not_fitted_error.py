"""tapaskit's NotFittedError is scikit-learn's too, without making `import tapaskit.errors` heavy."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pandas as pd
import pytest
import sklearn.exceptions

from tapaskit.errors import NotFittedError, TapasError, USER_ERRORS


def test_it_is_scikit_learns_and_ours() -> None:
    error = NotFittedError("this TAP is not fitted yet; call fit")
    for base in (sklearn.exceptions.NotFittedError, TapasError, RuntimeError, ValueError, AttributeError):
        assert isinstance(error, base)
    assert isinstance(error, USER_ERRORS)  # the CLI's one line, as before
    assert str(error) == "this TAP is not fitted yet; call fit"
    assert NotFittedError.__module__ == "tapaskit.errors" and NotFittedError.__qualname__ == "NotFittedError"
    again = pickle.loads(pickle.dumps(error))  # crosses process boundaries (executors)
    assert type(again) is NotFittedError and str(again) == str(error)
    import tapaskit.errors

    assert tapaskit.errors.NotFittedError is NotFittedError and "NotFittedError" in dir(tapaskit.errors)


def test_a_predictor_before_fit_is_caught_as_scikit_learn_code_catches_it() -> None:
    from tapaskit.predictor.baselines import DatasetMeanPredictor

    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted yet"):
        DatasetMeanPredictor().predict(pd.DataFrame({"dcn": [0.5]}))


def test_importing_the_errors_loads_no_scikit_learn() -> None:
    code = "import sys, tapaskit.errors; print('sklearn' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
