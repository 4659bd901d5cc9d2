"""The two model kinds behind one call: ``predict(table, triplets) -> scores``.

``table`` maps column names to float arrays (one value per alert: candidate fields and
light-curve features); ``triplets`` is the [N, 63, 63, 3] cutout array (or None when no
image model is active). Scores are float64 with NaN where the model could not run for
that alert (a required input missing), so that the stage can leave them out.

- ``OnnxModel``: each graph input is fed from an input spec: ``"triplet"`` (the cutouts),
  a named column list (``FEATURE_SETS``) or an explicit list of columns, in order; raw
  values, no scaling (ml.md). A row with a missing (NaN) required column is not scored,
  as BOOM skips an alert whose candidate lacks a model field.
- ``XGBoostModel``: a training artifact (``training.py``) carrying its own feature list;
  XGBoost treats NaN as "missing" natively, so every row is scored, but a feature column
  absent from the whole batch means the model cannot run at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

TRIPLET = "triplet"

ACAI_FEATURES = (
    "drb", "diffmaglim", "ra", "dec", "magpsf", "sigmapsf", "chipsf", "fwhm", "sky", "chinr",
    "sharpnr", "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "sgscore3", "distpsnr3",
    "ndethist", "ncovhist", "scorr", "nmtchps", "clrcoeff", "clrcounc", "neargaia",
    "neargaiabright",
)
BTSBOT_METADATA = (
    "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf", "sigmapsf", "chipsf",
    "ra", "dec", "diffmaglim", "ndethist", "nmtchps", "age", "days_since_peak",
    "days_to_peak", "peakmag_so_far", "drb", "ncovhist", "nnotdet", "chinr", "sharpnr",
    "scorr", "sky", "maxmag_so_far",
)
#: Named column lists a model's input spec may refer to instead of spelling them out.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "acai_features": ACAI_FEATURES,
    "btsbot_metadata": BTSBOT_METADATA,
}

Table = Mapping[str, np.ndarray]


class ModelLoadError(RuntimeError):
    """A configured model cannot be used (missing file, broken file, bad input spec)."""


class Model(Protocol):
    name: str
    version: str
    #: Whether ``predict`` needs the cutout triplets.
    needs_triplets: bool
    #: Columns the model reads from the table.
    columns: tuple[str, ...]

    def predict(self, table: Table, triplets: np.ndarray | None) -> np.ndarray: ...


def resolve_columns(spec: str | Sequence[str]) -> tuple[str, ...] | None:
    """Columns of one input spec; None for the triplet."""
    if isinstance(spec, str):
        if spec == TRIPLET:
            return None
        if spec not in FEATURE_SETS:
            known = ", ".join([TRIPLET, *FEATURE_SETS])
            raise ModelLoadError(f"unknown input {spec!r}: give a column list or one of {known}")
        return FEATURE_SETS[spec]
    return tuple(spec)


def stacked(table: Table, columns: Sequence[str], rows: int) -> np.ndarray:
    """[rows, len(columns)] float64; an absent column is all NaN."""
    out = np.full((rows, len(columns)), np.nan)
    for position, column in enumerate(columns):
        if column in table:
            out[:, position] = table[column]
    return out


def _rows(table: Table, triplets: np.ndarray | None) -> int:
    if triplets is not None:
        return len(triplets)
    return len(next(iter(table.values()))) if table else 0


#: Alerts per onnxruntime call. A batch is scored in runs of this size: measured with
#: ``benchmarks/classify.py --runs`` (2-core EPYC), ACAI costs 0.11-0.13 ms/alert per
#: head in runs of 8 against 0.6-0.7 in one run of 500 without the arena, and BTSbot
#: 4.9 against 5.8; the scores are the same bit for bit at any size.
SUB_BATCH = 8


@dataclass
class OnnxModel:
    """An ONNX graph run by onnxruntime on the CPU with a fixed number of threads, in
    runs of ``sub_batch`` alerts."""

    name: str
    version: str
    path: Path
    inputs: Mapping[str, str | Sequence[str]]
    output: str | None = None
    threads: int = 1
    sub_batch: int = SUB_BATCH
    session: Any = field(init=False, repr=False)
    needs_triplets: bool = field(init=False)
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # The CPU arena keeps the activations of the largest run for the life of the
        # session (~3.9 GB for the six ZTF models on whole 500-alert batches); at runs
        # of ``sub_batch`` it stays small, and reusing it is what makes small runs fast.
        options.enable_cpu_mem_arena = True
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own, unexported types
            raise ModelLoadError(f"model {self.name}: cannot load {self.path}: {error}") from None
        graph_inputs = {i.name for i in self.session.get_inputs()}
        if set(self.inputs) != graph_inputs:
            raise ModelLoadError(
                f"model {self.name}: input spec names {sorted(self.inputs)} but the graph "
                f"{self.path.name} takes {sorted(graph_inputs)}")
        outputs = [o.name for o in self.session.get_outputs()]
        if self.output is not None and self.output not in outputs:
            raise ModelLoadError(f"model {self.name}: no output {self.output!r} in {outputs}")
        self.output = self.output or outputs[0]
        self._resolved = {name: resolve_columns(spec) for name, spec in self.inputs.items()}
        self.needs_triplets = any(cols is None for cols in self._resolved.values())
        self.columns = tuple(c for cols in self._resolved.values() if cols for c in cols)

    def predict(self, table: Table, triplets: np.ndarray | None) -> np.ndarray:
        rows = _rows(table, triplets)
        scores = np.full(rows, np.nan)
        feeds: dict[str, np.ndarray] = {}
        usable = np.ones(rows, dtype=bool)
        for name, columns in self._resolved.items():
            if columns is None:
                if triplets is None:
                    raise ValueError(f"model {self.name} needs cutout triplets")
                feeds[name] = triplets
            else:
                values = stacked(table, columns, rows)
                usable &= np.isfinite(values).all(axis=1)
                feeds[name] = values.astype(np.float32)
        if not usable.any():
            return scores
        if not usable.all():
            feeds = {name: np.ascontiguousarray(array[usable]) for name, array in feeds.items()}
        scores[usable] = self._run(feeds, int(usable.sum()))
        return scores

    def _run(self, feeds: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """The first output's first column for ``rows`` alerts, ``sub_batch`` at a time."""
        step = max(1, self.sub_batch)
        runs = [self.session.run([self.output],
                                 {name: array[start:start + step]
                                  for name, array in feeds.items()})[0]
                for start in range(0, rows, step)]
        result = np.concatenate([np.asarray(r, dtype=np.float64).reshape(len(r), -1)
                                 for r in runs])
        return result[:, 0]


@dataclass
class XGBoostModel:
    """A boom_flow XGBoost artifact: booster + feature list + version + metrics."""

    name: str
    path: Path
    version: str = ""
    threads: int = 1
    needs_triplets: bool = field(default=False, init=False)
    columns: tuple[str, ...] = field(init=False)
    metrics: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        from boom_flow.ml.training import ArtifactError, load_artifact

        try:
            artifact = load_artifact(self.path)
        except ArtifactError as error:
            raise ModelLoadError(f"model {self.name}: {error}") from None
        self.booster = artifact.booster
        self.booster.set_param({"nthread": self.threads})
        self.columns = artifact.features
        self.version = self.version or artifact.version
        self.metrics = artifact.metrics

    def predict(self, table: Table, triplets: np.ndarray | None) -> np.ndarray:
        rows = _rows(table, triplets)
        if any(column not in table for column in self.columns):
            return np.full(rows, np.nan)
        if rows == 0:
            return np.zeros(0)
        values = stacked(table, self.columns, rows).astype(np.float32)
        return np.asarray(self.booster.inplace_predict(values), dtype=np.float64).reshape(rows)
