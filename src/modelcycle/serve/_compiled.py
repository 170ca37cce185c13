"""Compiled inference: a served scikit-learn pipeline as a few NumPy operations, checked against it.

A registered model is usually a ``Pipeline``: a ``ColumnTransformer`` that casts, imputes,
scales and encodes the input columns, then an estimator. For one row, the pipeline's input
validation and column bookkeeping cost about a millisecond while the arithmetic costs
microseconds. :func:`compile_pipeline` reads the fitted parameters of every step it understands
(imputer statistics, scaler means and scales, encoder categories, linear coefficients, a
LightGBM booster) into arrays and dictionaries, and builds the feature matrix straight from a
request's column arrays.

A compiled model is only used once it agrees with the pipeline (:func:`compile_model`): on the
registered input example, the reference profile's sample rows, rows with every optional column
missing, rows with unseen categories and single rows; labels must be equal and probabilities (or
regression values) within ``1e-9``. A step or estimator it does not understand, or any
disagreement, leaves the model on the pipeline, and :class:`Inference` says why. At request time
a batch outside what the compiled path handles (a value of an unexpected type, an infinite
number, a category the model refuses) is handed to the pipeline, so every answer and every error
is the pipeline's own.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from modelcycle.registry import LoadedModel
from modelcycle.serve._errors import RequestError
from modelcycle.serve._inputs import Batch, InputSpec, batch_from_payload, records_of

logger = logging.getLogger(__name__)

#: Largest difference allowed between a compiled and a pipeline probability (or, relative to
#: the value's size, regression prediction) before the compiled path is refused.
TOLERANCE = 1e-9

Columns = Mapping[str, np.ndarray]
#: Predictions (labels or values) and, for classifiers with probabilities, one row per input row.
Outputs = tuple[np.ndarray, "np.ndarray | None"]

# Matches no category a model was trained on: encoders are probed with it to learn what they do
# with categories they never saw.
_UNSEEN = "\x00modelcycle-unseen\x00"
_LINEAR_CLASSIFIERS = ("LogisticRegression", "LinearDiscriminantAnalysis")
_LINEAR_REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet", "LinearSVR")
# Classifiers whose predict() is, by its source, the class with the largest predict_proba():
# for these one call gives both, instead of running the trees twice.
_ARGMAX_CLASSIFIERS = (
    "DecisionTreeClassifier",
    "ExtraTreesClassifier",
    "HistGradientBoostingClassifier",
    "RandomForestClassifier",
)


class NotCompilable(Exception):
    """Why a pipeline is served by scikit-learn rather than compiled (never reaches a client)."""


class Decline(Exception):
    """A batch the compiled path does not handle; the pipeline answers it instead."""


@dataclass(frozen=True)
class Inference:
    """How a served version computes its predictions, for ``GET /v1/models/{name}``.

    Attributes
    ----------
    path
        ``"compiled"`` (NumPy operations read from the fitted pipeline) or ``"pipeline"`` (the
        scikit-learn pipeline itself).
    detail
        For a compiled model, its steps; for a pipeline, why it was not compiled.
    verified_rows
        Rows on which the compiled path was checked against the pipeline at load time.
    max_abs_diff
        The largest difference seen then between their probabilities (or values).
    """

    path: str
    detail: str
    verified_rows: int = 0
    max_abs_diff: float | None = None


# -- the compiled model ----------------------------------------------------------------------------


class _Block(Protocol):
    """Input columns to a slice of the feature matrix."""

    names: list[str]
    width: int

    def write(self, columns: Columns, X: np.ndarray, start: int) -> None: ...

    def describe(self) -> str: ...


class _Head(Protocol):
    """The feature matrix to predictions (and probabilities)."""

    def __call__(self, X: np.ndarray) -> Outputs: ...

    def describe(self) -> str: ...


class CompiledModel:
    """A fitted pipeline as NumPy operations on a batch's column arrays.

    Build it with :func:`compile_pipeline`; serve it only after :func:`verify` (which
    :func:`compile_model` does).

    Attributes
    ----------
    declined
        Batches handed back to the pipeline since loading (counted without a lock, so
        approximate under threads).
    """

    def __init__(self, blocks: Sequence[tuple[_Block, int]], width: int, head: _Head) -> None:
        self.blocks = list(blocks)
        self.width = width
        self.head = head
        self.declined = 0

    def features(self, columns: Columns, n_rows: int) -> np.ndarray:
        """The feature matrix the pipeline's last step would receive.

        Raises
        ------
        Decline
            If a value is outside what the compiled steps handle.
        """
        X = np.empty((n_rows, self.width), dtype=np.float64)
        for block, start in self.blocks:
            block.write(columns, X, start)
        return X

    def run(self, columns: Columns, n_rows: int) -> Outputs:
        """Predict, raising :class:`Decline` (or the estimator's own error) when it cannot."""
        return self.head(self.features(columns, n_rows))

    def predict(self, columns: Columns, n_rows: int) -> Outputs | None:
        """Predict, or ``None`` when the pipeline must answer this batch."""
        try:
            return self.run(columns, n_rows)
        except Decline:
            pass
        except Exception as exc:
            # The estimator's own input checks (it refuses what the pipeline would refuse): the
            # pipeline then raises the error the client gets.
            logger.debug("compiled path declined a batch: %s: %s", type(exc).__name__, exc)
        self.declined += 1
        return None

    def describe(self) -> str:
        """The compiled steps in one line."""
        blocks = "; ".join(block.describe() for block, _ in self.blocks)
        return f"{blocks} -> {self.head.describe()}"


# -- steps on a float matrix (in place) ------------------------------------------------------------


class _Impute:
    """``SimpleImputer`` on numbers: NaN becomes the column's fitted statistic."""

    def __init__(self, statistics: np.ndarray) -> None:
        self.statistics = statistics

    def __call__(self, X: np.ndarray) -> None:
        missing = np.isnan(X)
        if missing.any():
            X[missing] = np.broadcast_to(self.statistics, X.shape)[missing]

    def __str__(self) -> str:
        return "impute"


class _Scale:
    """``StandardScaler``: the same subtraction and division, so the same bits."""

    def __init__(self, mean: np.ndarray | None, scale: np.ndarray | None) -> None:
        self.mean = mean
        self.scale = scale

    def __call__(self, X: np.ndarray) -> None:
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale

    def __str__(self) -> str:
        return "scale"


_MatrixStep = _Impute | _Scale


def _matrix_step(step: Any) -> _MatrixStep | None:
    """A numeric step; ``None`` for one that changes nothing on a float matrix."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    from modelcycle.features._preprocess import _as_float

    if step is None or step == "passthrough" or _is_function(step, _as_float):
        return None
    if type(step) is SimpleImputer:
        _check_imputer(step)
        statistics = np.asarray(step.statistics_)
        if statistics.dtype.kind not in "fiu" or np.isnan(statistics.astype(np.float64)).any():
            raise NotCompilable(
                "a numeric SimpleImputer has a column with no statistic (all missing in "
                "training), which it drops"
            )
        return _Impute(statistics.astype(np.float64))
    if type(step) is StandardScaler:
        mean = np.asarray(step.mean_, dtype=np.float64) if step.with_mean else None
        scale = np.asarray(step.scale_, dtype=np.float64) if step.with_std else None
        return _Scale(mean, scale)
    raise NotCompilable(f"the step {_name(step)} is not one the compiler knows")


def _check_imputer(imputer: Any) -> None:
    missing = imputer.missing_values
    if imputer.add_indicator or not (isinstance(missing, float) and missing != missing):
        raise NotCompilable("a SimpleImputer with missing indicators or a non-NaN missing value")


# -- blocks: input columns to feature columns ------------------------------------------------------


class _NumericBlock:
    """Numeric columns as floats (nulls as NaN), then imputation and scaling."""

    def __init__(self, names: list[str], steps: list[_MatrixStep]) -> None:
        self.names = names
        self.width = len(names)
        self.steps = steps

    def write(self, columns: Columns, X: np.ndarray, start: int) -> None:
        out = X[:, start : start + self.width]
        for j, name in enumerate(self.names):
            out[:, j] = _floats(columns[name])
        # The imputer and scaler refuse infinite values: let the pipeline say so.
        if self.steps and np.isinf(out).any():
            raise Decline
        for step in self.steps:
            step(out)

    def describe(self) -> str:
        return _describe("numeric", self.names, ["float", *map(str, self.steps)])


class _DatetimeBlock:
    """``DatetimeFeatures``: calendar parts of datetime columns (NaT as NaN), then the steps."""

    def __init__(
        self, names: list[str], parts: list[tuple[str, str]], steps: list[_MatrixStep]
    ) -> None:
        self.names = names
        self.parts = parts
        self.width = len(parts)
        self.steps = steps

    def write(self, columns: Columns, X: np.ndarray, start: int) -> None:
        out = X[:, start : start + self.width]
        for j, (name, part) in enumerate(self.parts):
            out[:, j] = _calendar(columns[name], part)
        for step in self.steps:
            step(out)

    def describe(self) -> str:
        return _describe("datetime", self.names, ["calendar parts", *map(str, self.steps)])


class _CategoricalBlock:
    """Categorical columns as labels, missing ones filled, then one-hot or ordinal codes.

    ``lookups[j]`` maps a label of column ``j`` to its one-hot position within the column's
    block (-1: all zeros) or to its ordinal code; ``unknown[j]`` is what an unseen label gets,
    ``None`` when the encoder refuses it (the pipeline then answers, with its error).
    """

    def __init__(
        self,
        names: list[str],
        *,
        cast: bool,
        fills: list[str | None],
        lookups: list[dict[str, float]],
        unknown: list[float | None],
        offsets: list[int] | None,
        width: int,
    ) -> None:
        self.names = names
        self.cast = cast
        self.fills = fills
        self.lookups = lookups
        self.unknown = unknown
        self.offsets = offsets
        self.width = width

    def write(self, columns: Columns, X: np.ndarray, start: int) -> None:
        n_rows = X.shape[0]
        onehot = self.offsets is not None
        if onehot:
            X[:, start : start + self.width] = 0.0
        rows: list[int] = []
        cols: list[int] = []
        for j, name in enumerate(self.names):
            lookup, unknown = self.lookups[j], self.unknown[j]
            codes = [lookup.get(label, unknown) for label in self._labels(columns[name], j)]
            if unknown is None and None in codes:
                raise Decline
            if self.offsets is None:
                X[:, start + j] = codes
                continue
            base = start + self.offsets[j]
            for r in range(n_rows):
                code = codes[r]
                if code is not None and code >= 0:
                    rows.append(r)
                    cols.append(base + int(code))
        if rows:
            # One fancy assignment for the whole block: per-cell writes cost more for a row.
            X[rows, cols] = 1.0

    def _labels(self, array: np.ndarray, j: int) -> list[str]:
        """The values as the encoder saw them in training (the pipeline's string casting)."""
        from modelcycle.features._preprocess import _category_label

        values = array.tolist()
        if not self.cast:
            if all(type(v) is str for v in values):
                return values
            raise Decline  # the raw encoder's handling of nulls and numbers is the pipeline's
        fill = self.fills[j]
        labels = []
        for v in values:
            kind = type(v)
            if kind is str:
                labels.append(v)
            elif v is None or (kind is float and v != v):
                if fill is None:
                    raise Decline
                labels.append(fill)
            elif kind is int or kind is float or kind is bool:
                labels.append(_category_label(v))
            else:
                raise Decline
        return labels

    def describe(self) -> str:
        steps = ["strings"] if self.cast else []
        steps += ["impute"] if any(f is not None for f in self.fills) else []
        steps.append(f"one-hot ({self.width})" if self.offsets is not None else "ordinal")
        return _describe("categorical", self.names, steps)


def _floats(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in "fiub":
        return array
    # Booleans with nulls arrive as objects; anything else is the pipeline's to judge.
    values = array.tolist()
    if all(v is None or type(v) is bool for v in values):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    raise Decline


def _calendar(array: np.ndarray, part: str) -> np.ndarray:
    """One calendar part of a datetime64 array as floats, as pandas' ``.dt`` accessor gives."""
    if array.dtype.kind != "M":
        raise Decline
    days = array.astype("datetime64[D]")
    if part == "year":
        value = array.astype("datetime64[Y]").astype(np.int64) + 1970
    elif part == "month":
        value = array.astype("datetime64[M]").astype(np.int64) % 12 + 1
    elif part == "day":
        month = array.astype("datetime64[M]").astype("datetime64[D]")
        value = (days - month).astype(np.int64) + 1
    elif part == "weekday":
        # 1970-01-01 was a Thursday (Monday is 0).
        value = (days.astype(np.int64) + 3) % 7
    else:
        value = (array.astype("datetime64[h]") - days).astype(np.int64)
    out = value.astype(np.float64)
    out[np.isnat(array)] = np.nan
    return out


def _describe(kind: str, names: list[str], steps: list[str]) -> str:
    return f"{kind}({len(names)}): {', '.join(steps)}"


# -- heads: the feature matrix to predictions ------------------------------------------------------


class _LinearClassifier:
    """``LogisticRegression`` and ``LinearDiscriminantAnalysis``: ``X @ coef.T + b``, then the
    sigmoid (two classes) or softmax, with scikit-learn's own operations in its own order."""

    def __init__(self, estimator: Any) -> None:
        from scipy.special import expit

        self.expit = expit
        self.name = type(estimator).__name__
        self.coef_t = np.asarray(estimator.coef_, dtype=np.float64).T
        self.intercept = np.asarray(estimator.intercept_, dtype=np.float64)
        self.classes = estimator.classes_

    def __call__(self, X: np.ndarray) -> Outputs:
        if not np.isfinite(X).all():
            raise Decline  # the estimator refuses NaN and infinity
        scores = X @ self.coef_t + self.intercept
        if scores.shape[1] == 1:
            scores = scores.reshape(-1)
            predicted = self.classes.take((scores > 0).astype(np.intp))
            positive = self.expit(scores)
            return predicted, np.stack([1 - positive, positive], axis=1)
        predicted = self.classes.take(scores.argmax(axis=1))
        scores -= scores.max(axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return predicted, scores

    def describe(self) -> str:
        link = "sigmoid" if self.coef_t.shape[1] == 1 else "softmax"
        return f"{self.name}: X @ coef + b, {link}"


class _LinearRegressor:
    """Linear regressors: ``X @ coef + b``."""

    def __init__(self, estimator: Any) -> None:
        self.name = type(estimator).__name__
        self.coef = np.asarray(estimator.coef_, dtype=np.float64)
        self.intercept = estimator.intercept_

    def __call__(self, X: np.ndarray) -> Outputs:
        if not np.isfinite(X).all():
            raise Decline
        return X @ self.coef + self.intercept, None

    def describe(self) -> str:
        return f"{self.name}: X @ coef + b"


class _StandardisedTarget:
    """``TransformedTargetRegressor`` with a ``StandardScaler``: the inner prediction, unscaled."""

    def __init__(self, inner: _Head, scaler: Any) -> None:
        self.inner = inner
        self.scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None
        self.mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None

    def __call__(self, X: np.ndarray) -> Outputs:
        predicted, _ = self.inner(X)
        values = predicted.reshape(-1, 1).astype(np.float64, copy=True)
        if self.scale is not None:
            values *= self.scale
        if self.mean is not None:
            values += self.mean
        return values.reshape(-1), None

    def describe(self) -> str:
        return f"{self.inner.describe()}, target unscaled"


class _LightGBM:
    """A LightGBM model: its booster on the float matrix, one thread, one call for labels and
    probabilities (the scikit-learn wrapper predicts twice and re-validates each time); one
    row through LightGBM's single-row predictor (:class:`_LightGBMRow`) when it is available."""

    def __init__(self, estimator: Any, classifier: bool) -> None:
        self.name = type(estimator).__name__
        self.booster = estimator.booster_
        self.classes = estimator.classes_ if classifier else None
        self.row = _LightGBMRow.create(self.booster)

    def __call__(self, X: np.ndarray) -> Outputs:
        if self.row is not None and X.shape[0] == 1:
            result = self.row(X)
        else:
            result = self.booster.predict(X, num_threads=1)
        if self.classes is None:
            return result, None
        proba = result if result.ndim == 2 else np.vstack((1.0 - result, result)).transpose()
        return self.classes.take(np.argmax(proba, axis=1)), proba

    def describe(self) -> str:
        trees = self.booster.num_trees()
        row = ", single-row predictor" if self.row is not None else ""
        return f"{self.name}: booster on the matrix ({trees} trees, 1 thread{row})"


class _LightGBMRow:
    """LightGBM's single-row prediction (``LGBM_BoosterPredictForMatSingleRowFast`` of its C
    API), configured once rather than on every call as ``Booster.predict`` does.

    ``Booster.predict`` builds a predictor and parses its parameters for every call: for one row
    that is most of its cost. The C API's fast single-row predictor is set up once here. It is
    reached through the lightgbm package's loaded library and the booster's handle, which are
    not public Python API: :meth:`create` returns ``None`` (and the booster's own ``predict`` is
    used) if they are missing or the predictor disagrees with ``Booster.predict``.
    """

    def __init__(self, library: Any, handle: Any, outputs: int) -> None:
        self._library = library
        self._handle = handle
        self._outputs = outputs
        # The C predictor holds per-call buffers: one caller at a time (ctypes drops the GIL).
        self._lock = threading.Lock()

    @classmethod
    def create(cls, booster: Any) -> _LightGBMRow | None:
        import ctypes

        try:
            from lightgbm.basic import _LIB, _safe_call

            n_features = booster.num_feature()
            outputs = booster.num_model_per_iteration()
            handle = ctypes.c_void_p()
            _safe_call(
                _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    booster._handle,
                    ctypes.c_int(0),  # C_API_PREDICT_NORMAL: what Booster.predict gives
                    ctypes.c_int(0),  # start iteration
                    # Booster.predict's default: the best iteration (0, all, without early
                    # stopping).
                    ctypes.c_int(booster.best_iteration),
                    ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                    ctypes.c_int32(n_features),
                    ctypes.c_char_p(b"num_threads=1"),
                    ctypes.byref(handle),
                )
            )
        except Exception as exc:
            logger.debug("LightGBM's single-row predictor is not available: %s", exc)
            return None
        row = cls(_LIB, handle, outputs)
        probe = np.linspace(-1.0, 1.0, n_features).reshape(1, -1)
        if not np.array_equal(row(probe), booster.predict(probe, num_threads=1)):
            return None
        return row

    def __call__(self, X: np.ndarray) -> np.ndarray:
        import ctypes

        from lightgbm.basic import _safe_call

        data = np.ascontiguousarray(X[0], dtype=np.float64)
        out = np.empty(self._outputs, dtype=np.float64)
        length = ctypes.c_int64(0)
        with self._lock:
            _safe_call(
                self._library.LGBM_BoosterPredictForMatSingleRowFast(
                    self._handle,
                    ctypes.c_void_p(data.ctypes.data),
                    ctypes.byref(length),
                    ctypes.c_void_p(out.ctypes.data),
                )
            )
        # Booster.predict's shapes: (1,) for one output, (1, k) for k classes.
        return out if self._outputs == 1 else out.reshape(1, -1)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._library.LGBM_FastConfigFree(handle)


class _Native:
    """Any other scikit-learn estimator: its own methods, on the matrix instead of a frame."""

    def __init__(self, estimator: Any, probabilities: bool) -> None:
        self.estimator = estimator
        self.probabilities = probabilities
        self.argmax = probabilities and type(estimator).__name__ in _ARGMAX_CLASSIFIERS

    def __call__(self, X: np.ndarray) -> Outputs:
        estimator = self.estimator
        if self.argmax:
            proba = estimator.predict_proba(X)
            return estimator.classes_.take(np.argmax(proba, axis=1)), proba
        predicted = estimator.predict(X)
        return predicted, estimator.predict_proba(X) if self.probabilities else None

    def describe(self) -> str:
        method = "predict_proba" if self.argmax else "predict"
        if self.probabilities and not self.argmax:
            method += " + predict_proba"
        return f"{type(self.estimator).__name__}.{method} on the matrix"


def _head(estimator: Any, probabilities: bool) -> _Head:
    name = type(estimator).__name__
    module = type(estimator).__module__
    if module.startswith("lightgbm."):
        if name not in ("LGBMClassifier", "LGBMRegressor"):
            raise NotCompilable(f"the LightGBM estimator {name} is not one the compiler knows")
        if callable(estimator.objective_):
            raise NotCompilable("a LightGBM model with a custom objective function")
        return _LightGBM(estimator, classifier=name == "LGBMClassifier")
    if not module.startswith("sklearn."):
        raise NotCompilable(f"the estimator {_name(estimator)} is not from scikit-learn")
    coef = getattr(estimator, "coef_", None)
    dense = isinstance(coef, np.ndarray)
    if name in _LINEAR_CLASSIFIERS and dense and coef is not None and coef.ndim == 2:
        return _LinearClassifier(estimator)
    if name in _LINEAR_REGRESSORS and dense and coef is not None and coef.ndim == 1:
        return _LinearRegressor(estimator)
    if name == "TransformedTargetRegressor":
        return _target_regressor(estimator)
    if hasattr(estimator, "feature_names_in_"):
        # Fitted on a DataFrame: given an array, its input checks would differ from the pipeline's.
        raise NotCompilable(f"{name} was fitted on named columns, not on a matrix")
    return _Native(estimator, probabilities)


def _target_regressor(estimator: Any) -> _Head:
    from sklearn.preprocessing import StandardScaler

    transformer = estimator.transformer_
    if estimator.func is not None or type(transformer) is not StandardScaler:
        raise NotCompilable(
            "a TransformedTargetRegressor with a target transform other than scaling"
        )
    return _StandardisedTarget(_head(estimator.regressor_, probabilities=False), transformer)


# -- compiling -------------------------------------------------------------------------------------


def compile_pipeline(
    pipeline: Any, spec: InputSpec, *, probabilities: bool | None = None
) -> CompiledModel:
    """Compile a fitted pipeline for the input columns of ``spec``.

    Parameters
    ----------
    pipeline
        A fitted scikit-learn ``Pipeline`` (or a bare estimator).
    spec
        The served model's :class:`~modelcycle.serve.InputSpec`.
    probabilities
        Whether probabilities are served (default: whether the pipeline has
        ``predict_proba`` and ``classes_``).

    Raises
    ------
    NotCompilable
        If a step or the estimator is not one the compiler knows; the message says which.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    steps = [s for _, s in pipeline.steps] if isinstance(pipeline, Pipeline) else [pipeline]
    steps = [s for s in steps if s is not None and not (isinstance(s, str) and s == "passthrough")]
    if not steps:
        raise NotCompilable("the pipeline has no estimator")
    if probabilities is None:
        probabilities = hasattr(pipeline, "predict_proba") and hasattr(pipeline, "classes_")
    head = _head(steps[-1], probabilities)
    transforms = steps[:-1]
    if transforms and isinstance(transforms[0], ColumnTransformer):
        blocks, width = _column_blocks(transforms[0], spec)
        transforms = transforms[1:]
    else:
        names = _frame_columns(transforms[0] if transforms else steps[-1], spec)
        blocks, width = [(_numeric_block(names, [], spec), 0)], len(names)
    later = [step for step in map(_matrix_step, transforms) if step is not None]
    if later:
        # Steps after the column transformer act on the whole matrix.
        blocks.append((_Whole(width, later), 0))
    return CompiledModel(blocks, width, head)


class _Whole:
    """Matrix steps after the column transformer, applied to every feature column."""

    def __init__(self, width: int, steps: list[_MatrixStep]) -> None:
        self.names: list[str] = []
        self.width = width
        self.steps = steps

    def write(self, columns: Columns, X: np.ndarray, start: int) -> None:
        if np.isinf(X).any():
            raise Decline
        for step in self.steps:
            step(X)

    def describe(self) -> str:
        return "then " + ", ".join(map(str, self.steps))


def _frame_columns(first: Any, spec: InputSpec) -> list[str]:
    """The columns when the first step takes the whole frame: it must be in the spec's order."""
    names = list(spec.names)
    fitted = getattr(first, "feature_names_in_", None)
    if fitted is not None and [str(n) for n in fitted] != names:
        raise NotCompilable("the model was fitted on columns in another order than its signature")
    return names


def _column_blocks(ct: Any, spec: InputSpec) -> tuple[list[tuple[_Block, int]], int]:
    if ct.transformer_weights:
        raise NotCompilable("a ColumnTransformer with transformer weights")
    fitted_names = [str(n) for n in getattr(ct, "feature_names_in_", spec.names)]
    output = getattr(ct, "output_indices_", {})
    blocks: list[tuple[_Block, int]] = []
    start = 0
    for name, transformer, selection in ct.transformers_:
        names = _selected(selection, fitted_names)
        if (isinstance(transformer, str) and transformer == "drop") or not names:
            continue
        block = _block(transformer, names, spec)
        where = output.get(name)
        if where is not None and where.stop - where.start != block.width:
            raise NotCompilable(
                f"the transformer {name!r} gives {where.stop - where.start} columns, "
                f"the compiler counted {block.width}"
            )
        blocks.append((block, start))
        start += block.width
    if not blocks:
        raise NotCompilable("the ColumnTransformer selects no columns")
    return blocks, start


def _selected(selection: Any, names: list[str]) -> list[str]:
    if isinstance(selection, str):
        selection = [selection]
    if isinstance(selection, slice) or callable(selection):
        raise NotCompilable("a ColumnTransformer selecting columns by slice or function")
    chosen = list(np.asarray(selection).tolist()) if len(selection) else []
    if all(isinstance(c, bool) for c in chosen) and chosen:
        return [n for n, keep in zip(names, chosen, strict=True) if keep]
    if all(isinstance(c, int) for c in chosen):
        return [names[c] for c in chosen]
    if all(isinstance(c, str) for c in chosen):
        return chosen
    raise NotCompilable("a ColumnTransformer with a column selection the compiler cannot read")


def _block(transformer: Any, names: list[str], spec: InputSpec) -> _Block:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from modelcycle.features._preprocess import DatetimeFeatures, _as_category_strings

    if isinstance(transformer, Pipeline):
        steps = [s for _, s in transformer.steps]
    elif isinstance(transformer, str) and transformer == "passthrough":
        steps = []
    else:
        steps = [transformer]
    steps = [s for s in steps if s is not None and not (isinstance(s, str) and s == "passthrough")]
    if steps and (
        _is_function(steps[0], _as_category_strings)
        or isinstance(steps[-1], OneHotEncoder | OrdinalEncoder)
    ):
        return _categorical_block(steps, names)
    if steps and type(steps[0]) is DatetimeFeatures:
        return _datetime_block(steps[0], steps[1:], names, spec)
    return _numeric_block(names, steps, spec)


def _numeric_block(names: list[str], steps: list[Any], spec: InputSpec) -> _NumericBlock:
    from modelcycle.features._preprocess import _as_float

    kinds = _kinds(spec)
    explicit = bool(steps) and _is_function(steps[0], _as_float)
    for name in names:
        column = kinds.get(name)
        if column is None:
            raise NotCompilable(
                f"the model takes the column {name!r}, which is not in its signature"
            )
        numeric = column.kind in ("number", "integer") and column.dtype != "float32"
        # Without the explicit cast, scikit-learn's own conversion decides; it is plain
        # float64 only for 64-bit numbers.
        if not numeric and not (explicit and column.kind == "boolean"):
            raise NotCompilable(f"the numeric step gets the {column.kind} column {name!r}")
    matrix = [step for step in map(_matrix_step, steps) if step is not None]
    return _NumericBlock(names, matrix)


def _datetime_block(
    parts: Any, steps: list[Any], names: list[str], spec: InputSpec
) -> _DatetimeBlock:
    kinds = _kinds(spec)
    if any(kinds[n].kind != "datetime" if n in kinds else True for n in names):
        raise NotCompilable("DatetimeFeatures on columns the signature does not call datetimes")
    fitted = [str(n) for n in parts.feature_names_in_]
    # DatetimeFeatures names its input columns by position: map its names to the block's.
    renamed = dict(zip(fitted, names, strict=True))
    features = [(renamed[column], part) for column, part in parts.features_]
    matrix = [step for step in map(_matrix_step, steps) if step is not None]
    return _DatetimeBlock(names, features, matrix)


def _categorical_block(steps: list[Any], names: list[str]) -> _CategoricalBlock:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from modelcycle.features._preprocess import _as_category_strings

    cast = _is_function(steps[0], _as_category_strings)
    rest = steps[1:] if cast else steps
    fills: list[str | None] = [None] * len(names)
    if rest and type(rest[0]) is SimpleImputer:
        imputer, rest = rest[0], rest[1:]
        _check_imputer(imputer)
        statistics = list(imputer.statistics_)
        if len(statistics) != len(names) or not all(isinstance(s, str) for s in statistics):
            raise NotCompilable("a categorical SimpleImputer without a string for every column")
        # Without the cast, only strings reach the encoder (others are declined): no fills.
        fills = statistics if cast else fills
    if len(rest) != 1 or type(rest[0]) not in (OneHotEncoder, OrdinalEncoder):
        raise NotCompilable(
            "a categorical block other than strings, imputation and one encoder: "
            + ", ".join(_name(s) for s in steps)
        )
    encoder = rest[0]
    lookups, unknown, offsets, width = _probe_encoder(encoder, len(names))
    return _CategoricalBlock(
        names,
        cast=cast,
        fills=fills,
        lookups=lookups,
        unknown=unknown,
        offsets=offsets,
        width=width,
    )


def _probe_encoder(
    encoder: Any, n_features: int
) -> tuple[list[dict[str, float]], list[float | None], list[int] | None, int]:
    """What a fitted encoder does with each category and with an unseen one, by asking it.

    Asking rather than re-deriving its rules (infrequent categories, dropped columns, unknown
    handling) keeps the compiled lookup exactly the encoder's, whatever its options.
    """
    from sklearn.preprocessing import OneHotEncoder

    categories = [[c for c in cats if isinstance(c, str)] for cats in encoder.categories_]
    if len(categories) != n_features or not all(categories):
        raise NotCompilable("an encoder whose categories are not strings")
    if any(
        len(strings) < len(cats) - 1
        for strings, cats in zip(categories, encoder.categories_, strict=True)
    ):
        # One NaN (missing) category is fine: missing values never reach it compiled.
        raise NotCompilable("an encoder whose categories are not strings")
    onehot = isinstance(encoder, OneHotEncoder)
    if onehot:
        widths = [int(w) for w in getattr(encoder, "_n_features_outs", [])]
        if len(widths) != n_features:
            raise NotCompilable("a OneHotEncoder whose output layout cannot be read")
        offsets = np.cumsum([0, *widths]).tolist()
    else:
        widths, offsets = [1] * n_features, list(range(n_features + 1))
    first = [cats[0] for cats in categories]
    lookups: list[dict[str, float]] = []
    unknown: list[float | None] = []
    for i, cats in enumerate(categories):
        rows = np.empty((len(cats), n_features), dtype=object)
        rows[:] = first
        rows[:, i] = cats
        codes = _codes(encoder, rows, offsets[i], widths[i], onehot)
        lookups.append(dict(zip(cats, codes, strict=True)))
        unseen = np.array([first], dtype=object)
        unseen[0, i] = _UNSEEN
        try:
            unknown.append(_codes(encoder, unseen, offsets[i], widths[i], onehot)[0])
        except ValueError:
            unknown.append(None)  # the encoder refuses unseen categories
    return lookups, unknown, (offsets[:-1] if onehot else None), int(offsets[-1])


def _codes(encoder: Any, rows: np.ndarray, offset: int, width: int, onehot: bool) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = encoder.transform(rows)
    out = np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=np.float64)
    block = out[:, offset : offset + width]
    if not onehot:
        return block[:, 0].tolist()
    codes: list[float] = []
    for row in block:
        hot = np.flatnonzero(row)
        if len(hot) > 1 or (len(hot) == 1 and row[hot[0]] != 1.0):
            raise NotCompilable("a OneHotEncoder output that is not one-hot")
        codes.append(float(hot[0]) if len(hot) else -1.0)
    return codes


def _kinds(spec: InputSpec) -> dict[str, Any]:
    return {column.name: column for column in spec.columns}


def _is_function(step: Any, function: Callable[..., Any]) -> bool:
    from sklearn.preprocessing import FunctionTransformer

    return (
        type(step) is FunctionTransformer
        and step.func is function
        and step.inverse_func is None
        and not step.kw_args
    )


def _name(step: Any) -> str:
    return step if isinstance(step, str) else type(step).__name__


# -- verification ----------------------------------------------------------------------------------


class Mismatch(Exception):
    """The compiled path and the pipeline disagree; the message says where."""


def verify(
    compiled: CompiledModel,
    reference: Callable[[Batch], Outputs],
    batches: Sequence[Batch],
    *,
    labels: bool,
) -> tuple[int, float]:
    """Check a compiled model against the pipeline on batches of validated rows.

    Parameters
    ----------
    compiled
        The compiled model.
    reference
        The pipeline's outputs for a batch (it may raise: then the compiled path must decline
        or raise too).
    batches
        The batches to compare on.
    labels
        Whether predictions are class labels (compared exactly) rather than values (compared
        within :data:`TOLERANCE`, relative to their size).

    Returns
    -------
    tuple of (int, float)
        The rows compared and the largest difference seen.

    Raises
    ------
    Mismatch
        On the first disagreement, saying where.
    """
    rows = 0
    worst = 0.0
    for batch in batches:
        try:
            expected: Outputs | None = reference(batch)
        except Exception as exc:
            expected, refusal = None, f"{type(exc).__name__}: {exc}"
        if expected is not None:
            check = _Check(compiled, batch.columns, expected, labels, budget=4 * batch.n_rows)
            check.run(0, batch.n_rows)
            rows, worst = rows + check.rows, max(worst, check.worst)
            continue
        try:
            compiled.run(batch.columns, batch.n_rows)
        except Exception:
            continue  # both refuse (or the compiled path hands the batch to the pipeline)
        raise Mismatch(f"the pipeline refuses rows the compiled path accepts ({refusal})")
    return rows, worst


class _Check:
    """Compares a batch the pipeline accepted; a part the compiled path declines is halved
    until the rows it does take are found (so one null in a sample does not hide the rest)."""

    def __init__(
        self,
        compiled: CompiledModel,
        columns: Columns,
        expected: Outputs,
        labels: bool,
        budget: int,
    ) -> None:
        self.compiled = compiled
        self.columns = columns
        self.expected = expected
        self.labels = labels
        # Rows that may be predicted in all: halving re-predicts rows, and trees are slow.
        self.budget = budget
        self.rows = 0
        self.worst = 0.0

    def run(self, start: int, stop: int) -> None:
        if self.budget < stop - start:
            return
        self.budget -= stop - start
        part = {name: array[start:stop] for name, array in self.columns.items()}
        try:
            got = self.compiled.run(part, stop - start)
        except Decline:
            if stop - start > 1:
                middle = (start + stop) // 2
                self.run(start, middle)
                self.run(middle, stop)
            return
        except Exception as exc:
            raise Mismatch(
                f"the compiled path failed where the pipeline did not ({type(exc).__name__}: {exc})"
            ) from exc
        predicted, proba = self.expected
        want = (predicted[start:stop], None if proba is None else proba[start:stop])
        self.worst = max(self.worst, _compare(got, want, self.labels))
        self.rows += stop - start


def _compare(got: Outputs, expected: Outputs, labels: bool) -> float:
    predicted, proba = np.asarray(got[0]), got[1]
    want, want_proba = np.asarray(expected[0]), expected[1]
    if predicted.shape != want.shape:
        raise Mismatch(f"predictions of shape {predicted.shape}, the pipeline's {want.shape}")
    worst = 0.0
    if labels:
        differ = predicted != want
        if differ.any():
            i = int(np.argmax(differ))
            raise Mismatch(f"row {i} is labelled {predicted[i]!r}, by the pipeline {want[i]!r}")
    else:
        values, reference = predicted.astype(np.float64), want.astype(np.float64)
        diff = np.abs(values - reference)
        allowed = TOLERANCE * np.maximum(1.0, np.abs(reference))
        if not (diff <= allowed).all():
            i = int(np.argmax(diff - allowed))
            raise Mismatch(f"row {i} is predicted {values[i]!r}, by the pipeline {reference[i]!r}")
        worst = float(diff.max(initial=0.0))
    if (proba is None) != (want_proba is None):
        raise Mismatch("one path gives probabilities and the other does not")
    if proba is not None and want_proba is not None:
        proba, want_proba = np.asarray(proba), np.asarray(want_proba)
        if proba.shape != want_proba.shape:
            raise Mismatch(
                f"probabilities of shape {proba.shape}, the pipeline's {want_proba.shape}"
            )
        diff = np.abs(proba - want_proba)
        if not (diff <= TOLERANCE).all():
            i = int(np.argmax(diff.max(axis=1)))
            raise Mismatch(
                f"row {i} has probabilities {proba[i].tolist()}, the pipeline "
                f"{want_proba[i].tolist()}"
            )
        worst = max(worst, float(diff.max(initial=0.0)))
    return worst


# -- compile and verify a loaded model -------------------------------------------------------------

# Rows of the reference sample checked at load time: enough to meet every category and the tails,
# few enough that a slow pipeline still loads in a second or two.
_VERIFY_ROWS = 2000
# Rows re-sent with their optional columns null, and with unseen categories.
_EDGE_ROWS = 20
# Rows also checked one at a time (a one-row batch takes other shapes through NumPy).
_SINGLE_ROWS = 10
_UNSEEN_CATEGORY = "modelcycle-unseen-category"


def compile_model(
    model: LoadedModel,
    spec: InputSpec,
    reference: Callable[[Batch], Outputs],
    *,
    probabilities: bool,
) -> tuple[CompiledModel | None, Inference]:
    """Compile a loaded version and verify it against its pipeline.

    Parameters
    ----------
    model
        The loaded version.
    spec
        Its input columns.
    reference
        The pipeline's outputs for a batch: what the compiled path must reproduce.
    probabilities
        Whether probabilities are served.

    Returns
    -------
    tuple of (CompiledModel or None, Inference)
        The compiled model when it compiled and agreed with the pipeline on every row checked,
        else ``None``; and how the version predicts, with the reason when not compiled.
    """
    where = f"{model.name} version {model.version}"
    try:
        compiled = compile_pipeline(model.pipeline, spec, probabilities=probabilities)
    except NotCompilable as exc:
        logger.info("%s is served by its pipeline: %s", where, exc)
        return None, Inference("pipeline", f"not compiled: {exc}")
    except Exception as exc:
        # An attribute this library version lacks, an estimator in an unexpected state: the
        # pipeline still works, so serve it.
        logger.warning("%s could not be compiled: %s: %s", where, type(exc).__name__, exc)
        return None, Inference("pipeline", f"not compiled: {type(exc).__name__}: {exc}")
    from sklearn.base import is_classifier

    try:
        rows, worst = verify(
            compiled,
            reference,
            verification_batches(model, spec),
            labels=is_classifier(model.pipeline),
        )
    except Mismatch as exc:
        logger.warning(
            "%s: the compiled path disagrees with the pipeline (%s); serving the pipeline",
            where,
            exc,
        )
        return None, Inference("pipeline", f"compiled, but it disagrees with the pipeline: {exc}")
    except Exception as exc:
        # Outputs the comparison cannot read: not verified, so not used.
        logger.warning("%s: the compiled path could not be verified: %s", where, exc)
        return None, Inference("pipeline", f"compiled, but not verified: {exc}")
    if rows == 0:
        return None, Inference(
            "pipeline", "compiled, but no row could be checked against the pipeline"
        )
    return compiled, Inference("compiled", compiled.describe(), rows, worst)


def verification_batches(model: LoadedModel, spec: InputSpec) -> list[Batch]:
    """The batches a compiled model is checked on, built through the request path.

    The input example; the reference profile's sample rows (up to 2000); some of them with every
    optional column null, and with an unseen category in every string column; and some one at
    a time. A batch the signature refuses (a sample without a required column) is left out.
    """
    payloads: list[Any] = []
    if len(model.input_example):
        payloads.append({"inputs": records_of(model.input_example)})
    sample = (model.reference_profile or {}).get("sample") or {}
    columns = {name: list(sample[name])[:_VERIFY_ROWS] for name in spec.names if name in sample}
    n_rows = min((len(v) for v in columns.values()), default=0)
    if n_rows:
        payloads.append({"inputs": columns})
        head = {name: values[:_EDGE_ROWS] for name, values in columns.items()}
        m = min(n_rows, _EDGE_ROWS)
        optional = [c.name for c in spec.columns if not c.required]
        strings = [c.name for c in spec.columns if c.kind == "string"]
        if optional:
            payloads.append({"inputs": {**head, **{name: [None] * m for name in optional}}})
        if strings:
            payloads.append({"inputs": {**head, **{n: [_UNSEEN_CATEGORY] * m for n in strings}}})
        for i in range(min(n_rows, _SINGLE_ROWS)):
            payloads.append(
                {"inputs": {name: values[i : i + 1] for name, values in columns.items()}}
            )
    batches = []
    for payload in payloads:
        try:
            batches.append(batch_from_payload(payload, spec, max_rows=_VERIFY_ROWS))
        except RequestError as exc:
            logger.debug("%s: a verification batch does not fit the signature: %s", model.name, exc)
    return batches
