"""Explanations of a trained run's predictions for chosen samples, written as JSON and PNG files."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from mmgraph.explain.attribution import DEFAULT_STEPS, explain
from mmgraph.explain.plot import plot_explanation
from mmgraph.files import write_atomic
from mmgraph.graph.collate import full_edges_for

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(sample_id: str) -> str:
    """A sample id as a file name (characters other than letters, digits, ``._-`` become ``_``)."""
    stem = _UNSAFE.sub("_", sample_id)
    return stem if stem.strip(".") else "_" + stem


def explain_run(run_dir: str | Path, data: str | None, ids: Sequence[str], out: str | Path, *,
                method: str = "gradient", split: str = "test", root: str | None = None,
                steps: int = DEFAULT_STEPS, allow_outside: bool = False) -> list[Path]:
    """Explain a trained run's predictions for the samples ``ids`` of a dataset split.

    Loads the run (``load_run``), featurizes ``split`` of the data with the run's graph config,
    explains the chosen samples in one batch and writes ``out/<id>.json`` (``Explanation.to_dict``)
    and ``out/<id>.png`` (``plot_explanation``) for each.

    Args:
        run_dir: a run folder (``mmgraph train``).
        data: built-in dataset name, manifest path or converted folder; ``None``: the run's own
            data, as ``run.json`` records it (with its root and seed). Other data is checked
            against the run (``LoadedRun.check_data``: its modalities and tasks) and logged as a
            warning, since its samples are not the ones the run was trained on.
        ids: sample ids of ``split``.
        out: folder for the files (created).
        method: ``"gradient"`` or ``"attention"``.
        split: the dataset split holding the samples.
        root: raw-data folder (default: the run's).
        steps: integrated-gradients steps.
        allow_outside: accept manifest paths outside the manifest's folder.

    Returns:
        the written files, JSON and PNG per sample, in ``ids`` order.
    """
    from mmgraph.train.runs import load_run

    if not ids:
        raise ValueError("no sample ids given")
    run = load_run(run_dir)
    dataset = run.load_data(data, root=root, allow_outside=allow_outside)
    graphs, _ = run.featurize(dataset, split)
    index = {sid: i for i, sid in enumerate(graphs.ids)}
    missing = [sid for sid in ids if sid not in index]
    if missing:
        raise ValueError(f"ids not in the {split} split of {data or run.record.data}: {missing[:5]} "
                         f"(its ids look like {graphs.ids[:3]})")
    rows = [index[sid] for sid in ids]
    full_edges = full_edges_for(run.model)
    explanations = explain(run.model, graphs.collate_indices(rows, full_edges=full_edges), method=method, steps=steps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for row, explanation in zip(rows, explanations):
        stem = file_stem(str(explanation.id))
        json_path, png_path = out / f"{stem}.json", out / f"{stem}.png"
        write_atomic(json_path, json.dumps(explanation.to_dict(), indent=2).encode())
        plot_explanation(explanation, graphs.collate_indices([row], full_edges=full_edges), run.graph_config, png_path)
        written += [json_path, png_path]
        log.info("explained %s: %s", explanation.id, explanation.modality_importance)
    return written
