"""Predictions of a trained run for a dataset: one row per sample, written as CSV or JSONL.

``mmgraph predict RUN DATA --out preds.csv`` runs ``predict_run``. A row holds the sample's ``id``,
its ``split`` and the ``modalities`` present, then per task of the model:

- classification: the class id, its name (when the run knows the class names) and the
  probability of each class;
- regression: the value, in the target's units;
- clustering (a ``num_clusters`` head): the cluster id and the soft assignments;
- node-level tasks: the prediction of each node of the task's node type, in node order;

and, with ``explain=True``, the importance of each modality present (integrated gradients of the
first graph-level classification task, ``mmgraph.explain``; they sum to 1).

CSV columns are flat (``digit``, ``digit_name``, ``digit_prob_0`` ... ``digit_prob_9``, ``snr_db``,
``importance_audio``, ...; node-level predictions as a JSON list in one cell); a JSONL line nests
the same facts: ``{"id", "split", "modalities", "predictions": {task: {...}}, "importance"}``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmgraph.datasets.base import GraphDataset
from mmgraph.files import write_atomic
from mmgraph.nn.heads import Head
from mmgraph.task import Task
from mmgraph.train.config import TrainConfig
from mmgraph.train.runs import LoadedRun, load_run
from mmgraph.train.trainer import Trainer

log = logging.getLogger(__name__)

FORMATS = (".csv", ".jsonl")
"""The file suffixes ``predict_run`` writes."""
EXPLAIN_BATCH = 64
"""Samples per integrated-gradients batch (16 forward/backward passes each)."""


@dataclass
class Predictions:
    """What ``predict_run`` wrote: the file, its rows and the model's tasks."""

    path: Path
    rows: list[dict[str, Any]]
    tasks: list[str]
    explained: bool

    def summary(self) -> str:
        """One line for the terminal."""
        extra = " and modality importance" if self.explained else ""
        return f"{len(self.rows)} prediction(s) for tasks {self.tasks}{extra}: {self.path}"


def _graph_task_row(head: Head, task: Task | None, raw: Tensor) -> dict[str, Any]:
    """One sample's prediction for one graph-level task, as the JSONL line nests it (``raw``: the head's output)."""
    probs = head.probabilities(raw.unsqueeze(0))
    decoded = head.decode(raw.unsqueeze(0))[0]
    if probs is None:
        return {"value": float(decoded)}
    class_id = int(decoded)
    named = task is not None and task.class_names is not None
    names = list(task.class_names) if named else [str(k) for k in range(probs.shape[1])]
    out: dict[str, Any] = {"class": class_id}
    if named:
        out["name"] = names[class_id]
    out["probabilities"] = dict(zip(names, probs[0].tolist()))
    return out


def prediction_rows(run: LoadedRun, graphs: GraphDataset, splits: list[str] | None = None, *, batch_size: int = 256,
                    device: str | None = None, explain: bool = False) -> list[dict[str, Any]]:
    """One dict per sample of ``graphs`` (featurized with the run's graph config): the JSONL form.

    Args:
        run: the trained run.
        graphs: the samples.
        splits: each sample's split (written as ``split``; ``None``: left out).
        batch_size: samples per forward pass.
        device: where the model runs (``None``: the run's training device setting).
        explain: add ``importance`` (modality → share) per sample.
    """
    config = TrainConfig(eval_batch_size=batch_size, device=device or run.record.train_config.device, progress=False)
    trainer = Trainer(run.model, config)
    raw, _, _ = trainer.predict_raw(graphs)
    heads = trainer.heads
    offsets = {}
    for head in heads.values():
        if head.level == "node" and head.node_type not in offsets:
            counts = graphs.columns[head.node_type].counts
            offsets[head.node_type] = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).tolist()
    importance = _importance(run, graphs, trainer.device) if explain else None
    modalities = sorted(graphs.columns)
    present = {m: (graphs.columns[m].counts > 0).tolist() for m in modalities}
    rows = []
    for i, sample_id in enumerate(graphs.ids):
        row: dict[str, Any] = {"id": sample_id}
        if splits is not None:
            row["split"] = splits[i]
        row["modalities"] = [m for m in modalities if present[m][i]]
        row["predictions"] = {}
        for name, head in heads.items():
            if head.level == "node":
                nodes = raw[name][offsets[head.node_type][i]:offsets[head.node_type][i + 1]]
                row["predictions"][name] = {"nodes": head.decode(nodes).tolist()}
            else:
                row["predictions"][name] = _graph_task_row(head, run.tasks.get(name), raw[name][i])
        if importance is not None:
            row["importance"] = importance[i]
        rows.append(row)
    return rows


def _importance(run: LoadedRun, graphs: GraphDataset, device: torch.device) -> list[dict[str, float]]:
    from mmgraph.explain import explain

    out = []
    for start in range(0, len(graphs), EXPLAIN_BATCH):
        batch = graphs.collate_indices(range(start, min(start + EXPLAIN_BATCH, len(graphs)))).to(device)
        out += [dict(e.modality_importance) for e in explain(run.model, batch, method="gradient")]
    return out


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A JSONL row as one CSV row (see the module docstring for the columns)."""
    out: dict[str, Any] = {"id": row["id"]}
    if "split" in row:
        out["split"] = row["split"]
    out["modalities"] = "+".join(row["modalities"])
    for name, pred in row["predictions"].items():
        if "nodes" in pred:
            out[name] = json.dumps(pred["nodes"])
        elif "value" in pred:
            out[name] = pred["value"]
        else:
            out[name] = pred["class"]
            if "name" in pred:
                out[f"{name}_name"] = pred["name"]
            out.update({f"{name}_prob_{k}": p for k, p in pred["probabilities"].items()})
    for m, share in (row.get("importance") or {}).items():
        out[f"importance_{m}"] = share
    return out


def write_predictions(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows (``prediction_rows``) as CSV or JSONL, by the file's suffix (atomically)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    elif suffix == ".csv":
        flat = [flat_row(r) for r in rows]
        columns = list(dict.fromkeys(k for r in flat for k in r))  # first-seen order: id, split, modalities, tasks
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        text = buf.getvalue()
    else:
        raise ValueError(f"--out must end in {' or '.join(FORMATS)} (got {str(path)!r})")
    write_atomic(path, text.encode())
    return path


def predict_run(run_dir: str | Path, data: str, out: str | Path, *, split: str = "all", explain: bool = False,
                root: str | None = None, allow_outside: bool = False, batch_size: int = 256,
                device: str | None = None) -> Predictions:
    """Predict every sample of a dataset split with a trained run and write the rows (CSV or JSONL).

    Args:
        run_dir: a run folder (``mmgraph train``, or a run of ``mmgraph bench``).
        data: built-in dataset name, manifest or converted folder; its modalities must be ones the
            run was trained on (``LoadedRun.check_data``). A manifest without ``split`` is one
            ``train`` split: the default ``"all"`` predicts every record.
        out: ``.csv`` or ``.jsonl`` file.
        split: ``train``, ``val``, ``test`` or ``all``.
        explain: add each modality's importance (graph models with a classification task).
        root: raw-data folder (default: the run's).
        allow_outside: accept manifest paths outside the manifest's folder.
        batch_size: samples per forward pass.
        device: ``auto``, ``cpu``, ``cuda``, ... (default: the run's).
    """
    if Path(out).suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in {' or '.join(FORMATS)} (got {str(out)!r})")
    if device is not None:
        from mmgraph.train.distributed import resolve_device

        resolve_device(device)  # before any data is read
    run = load_run(run_dir)
    dataset = run.load_data(data, root=root, allow_outside=allow_outside)
    graphs, splits = run.featurize(dataset, split)
    rows = prediction_rows(run, graphs, splits, batch_size=batch_size, device=device, explain=explain)
    path = write_predictions(rows, out)
    log.info("wrote %d predictions to %s", len(rows), path)
    return Predictions(path, rows, list(rows[0]["predictions"]) if rows else [], explain)


__all__ = ["FORMATS", "Predictions", "flat_row", "predict_run", "prediction_rows", "write_predictions"]
