"""A model version made ready to serve, and the prediction path requests take through it.

:func:`predict_rows` is the whole path without HTTP (rows in, predictions out); the server runs
the same steps on a request body (:func:`predict_body`). Benchmarks measure the one against the
other to see what HTTP costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelcycle.registry import LoadedModel
from modelcycle.serve._compiled import CompiledModel, Inference, Outputs, compile_model
from modelcycle.serve._errors import RequestError
from modelcycle.serve._inputs import (
    Batch,
    InputSpec,
    batch_from_payload,
    batch_from_rows,
    parse_batch,
    records_of,
)


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model said about a batch.

    Attributes
    ----------
    predictions
        One prediction per row, as plain JSON values.
    probabilities
        One ``{class: probability}`` mapping per row when the model gives probabilities (class
        labels as strings, since JSON keys are), else ``None``.
    columns
        The same outputs as the log takes them: ``{"prediction": array, "probabilities":
        {class: array}}``, the model's own arrays rather than a dict per row.
    """

    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    columns: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, eq=False)
class ServedModel:
    """A loaded model version with what serving it needs worked out once.

    Build it with :meth:`prepare`; it is immutable, so a request that picked it up keeps a
    consistent model even if a newer version is swapped in meanwhile.

    Attributes
    ----------
    model
        The loaded version (pipeline, signature, input example, recipe, ...).
    spec
        The input columns requests are checked against.
    classes
        The class labels as JSON keys (strings) when the model gives probabilities.
    loaded_at
        When this version was loaded (UTC).
    inference
        Whether predictions come from the compiled path or the pipeline, and why.
    """

    model: LoadedModel
    spec: InputSpec
    classes: tuple[str, ...] | None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    inference: Inference = field(default_factory=lambda: Inference("pipeline", "not compiled"))
    _transform: Any = None
    _final: Any = None
    _compiled: CompiledModel | None = None

    @classmethod
    def prepare(cls, model: LoadedModel, *, compile: bool = True) -> ServedModel:
        """Work out the input spec and the fastest way to call the pipeline.

        With ``compile`` (the default) the pipeline is compiled into NumPy operations when
        every step is understood, and the compiled path is used only if it agrees with the
        pipeline on the input example and the reference profile's sample
        (:attr:`inference` says which path is used and why). Otherwise a scikit-learn
        ``Pipeline`` is split into its transforming steps and its final estimator, so a model
        with probabilities transforms each batch once rather than once for ``predict`` and
        again for ``predict_proba``.
        """
        from sklearn.pipeline import Pipeline

        pipeline = model.pipeline
        spec = InputSpec.from_model(model)
        classes = None
        if hasattr(pipeline, "predict_proba") and getattr(pipeline, "classes_", None) is not None:
            classes = tuple(_label(c) for c in pipeline.classes_)
        transform = final = None
        if isinstance(pipeline, Pipeline) and len(pipeline.steps) > 1:
            transform, final = pipeline[:-1], pipeline.steps[-1][1]
        served = cls(model, spec, classes, _transform=transform, _final=final)
        if not compile:
            return served
        compiled, inference = compile_model(
            model, spec, served._pipeline_outputs, probabilities=classes is not None
        )
        return replace(served, inference=inference, _compiled=compiled)

    @property
    def name(self) -> str:
        """The registered model's name."""
        return self.model.name

    @property
    def version(self) -> int:
        """The version number."""
        return self.model.version

    def describe_inference(self) -> dict[str, Any]:
        """How this version predicts, as JSON: :attr:`inference` and, for a compiled model, how
        many batches it handed to the pipeline since loading (``declined_batches``)."""
        described: dict[str, Any] = asdict(self.inference)
        if self._compiled is not None:
            described["declined_batches"] = self._compiled.declined
        return described

    def predict(self, batch: Batch) -> Prediction:
        """Predict a validated batch.

        The compiled path answers when the model has one and the batch is within what it
        handles; otherwise the pipeline does.

        Raises
        ------
        RequestError
            (422) If the model raises on these values: they passed the signature checks, so
            the message is the model's own (an unseen category, an infinite value, ...).
        """
        outputs = None
        if self._compiled is not None:
            outputs = self._compiled.predict(batch.columns, batch.n_rows)
        if outputs is None:
            try:
                outputs = self._pipeline_outputs(batch)
            except (MemoryError, RecursionError):
                raise
            except Exception as exc:
                raise RequestError(
                    422,
                    "model_error",
                    f"{self.name} version {self.version} could not predict these rows: "
                    f"{type(exc).__name__}: {_first_line(exc)}. The values match the model's "
                    "signature but not what it can handle; check them against the training "
                    "data.",
                ) from exc
        predicted = np.asarray(outputs[0])
        keys = self.classes
        proba = outputs[1] if keys is not None else None
        if proba is None or keys is None:
            return Prediction(predicted.tolist(), None, {"prediction": predicted})
        columns = {
            "prediction": predicted,
            "probabilities": {key: proba[:, j] for j, key in enumerate(keys)},
        }
        return Prediction(predicted.tolist(), probability_rows(keys, proba), columns)

    def _pipeline_outputs(self, batch: Batch) -> Outputs:
        """The pipeline's predictions (and probabilities) for a batch; raises what it raises."""
        frame = batch.frame()
        if self._final is not None:
            features = self._transform.transform(frame)
            predicted = self._final.predict(features)
            proba = self._final.predict_proba(features) if self.classes else None
        else:
            predicted = self.model.pipeline.predict(frame)
            proba = self.model.pipeline.predict_proba(frame) if self.classes else None
        return np.asarray(predicted), proba

    def warm_up(self) -> Prediction:
        """Predict the registered input example through the JSON path requests take.

        The example goes through JSON first, so warm-up proves that what a client would send
        is accepted, and pays the first-call costs (imports, caches) before traffic does.
        """
        example = self.model.input_example
        if example.empty:
            raise RequestError(
                500,
                "no_input_example",
                f"{self.name} version {self.version} has no input example to warm up on. "
                "Register it with modelcycle (mc.register), which stores one.",
            )
        records = records_of(example)
        batch = batch_from_payload({"inputs": records}, self.spec, max_rows=len(records))
        return self.predict(batch)


def predict_rows(model: ServedModel, rows: Sequence[Mapping[str, Any]]) -> Prediction:
    """Check, convert and predict rows given in Python: the server's path without HTTP.

    Examples
    --------
    >>> served = ServedModel.prepare(registry.load("income", alias="production"))  # doctest: +SKIP
    >>> predict_rows(served, [{"age": 41, "workclass": "Private"}]).predictions  # doctest: +SKIP
    ['<=50K']
    """
    return model.predict(batch_from_rows(rows, model.spec))


def predict_body(model: ServedModel, body: bytes, max_rows: int) -> tuple[Batch, Prediction]:
    """Decode, check, convert and predict a JSON request body (see :func:`parse_batch`)."""
    batch = parse_batch(body, model.spec, max_rows)
    return batch, model.predict(batch)


def probability_rows(classes: tuple[str, ...], proba: np.ndarray) -> list[dict[str, float]]:
    """One ``{class: probability}`` dict per row of a probability matrix."""
    rows = proba.tolist()
    if len(classes) == 2:
        # A dict display is a few times faster than dict(zip()), and most models are binary.
        first, second = classes
        return [{first: p, second: q} for p, q in rows]
    return [dict(zip(classes, row, strict=True)) for row in rows]


def _label(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 300 else line[:297] + "..."
