"""``RunFolder``: the one place that knows a run folder's layout, and ``RunInfo``: its ``run.json``.

A run folder (``mmgraph train``, ``mmgraph pretrain``, every run of a benchmark suite) holds::

    run.json              RunInfo: data source, graph / model / train (/ pretrain) configs, tasks
    checkpoints/last.pt   the last epoch: model, optimiser, scheduler, RNG states (what resume reads)
    checkpoints/best.pt   the best validation epoch's state dict (the last one's without validation)
    checkpoints/*.pt.json their sidecars (SHA-256, epoch; see ``mmgraph.train.checkpoint``)
    metrics.json/.csv     one row per epoch
    curves.png            loss and validation-metric curves, redrawn each epoch
    test_metrics.json     final metrics of a training run (``train_run``)
    pretrain_metrics.json summary of a pretraining run (``pretrain``)
    tensorboard/          TensorBoard logs (``TrainConfig.tensorboard``)

``load_run``, ``mmgraph explain --run`` and ``mmgraph train --init`` read any of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmgraph.files import write_atomic
from mmgraph.graph.config import GraphConfig
from mmgraph.models.config import ModelConfig
from mmgraph.task import Task
from mmgraph.train.config import TrainConfig

RUN_KINDS = ("train", "pretrain")
"""Values of ``RunInfo.kind``."""
CHECKPOINTS = ("best", "last")
"""The checkpoint names a run folder holds (``checkpoints/<name>.pt``)."""


@dataclass
class RunInfo:
    """What ``run.json`` records: how to rebuild the run's model and where its data came from.

    Attributes:
        graph_config, model_config, train_config: the run's settings.
        tasks: task name → ``Task`` of the data (empty for pretraining, which reads no labels).
        kind: ``"train"`` (a supervised run; not written, as runs have always been stored) or
            ``"pretrain"`` (``mmgraph pretrain``).
        data, root, data_seed: the data source as given to ``load_dataset`` (stored together,
            when the run names its source).
        dataset: the dataset's name.
        val_split: how a ``val`` split was held out of ``train`` for data that had none
            (``MultimodalDataset.hold_out_val``: ``from``, ``fraction``, ``seed``, ``samples``).
        pretrain_config: a pretraining run's ``PretrainConfig.to_dict()``.
        label: the model's label in a benchmark suite.
        environment: what the results depend on besides data, configs and seed: thread count,
            library versions, device (``mmgraph.train.environment.environment()`` when the run
            started); a resumed run continues with its thread count.
        extra: any other facts a caller stored (``pretrain(info=...)``), kept as they are.
    """

    graph_config: GraphConfig
    model_config: ModelConfig
    train_config: TrainConfig
    tasks: dict[str, Task] = field(default_factory=dict)
    kind: str = "train"
    data: str | None = None
    root: str | None = None
    data_seed: int | None = None
    dataset: str | None = None
    val_split: dict[str, Any] | None = None
    pretrain_config: dict[str, Any] | None = None
    label: str | None = None
    environment: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {RUN_KINDS} (got {self.kind!r})")

    def to_dict(self) -> dict[str, Any]:
        """``run.json``'s content, keys in the order every earlier version wrote them."""
        out: dict[str, Any] = {}
        if self.kind != "train":
            out["kind"] = self.kind
        if self.data is not None:
            out.update(data=self.data, root=self.root, data_seed=self.data_seed)
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.val_split is not None:
            out["val_split"] = dict(self.val_split)
        out.update(self.extra)
        out["graph_config"] = self.graph_config.to_dict()
        out["model_config"] = self.model_config.to_dict()
        if self.pretrain_config is not None:
            out["pretrain_config"] = dict(self.pretrain_config)
        out["train_config"] = self.train_config.to_dict()
        out["tasks"] = {k: t.to_dict() for k, t in self.tasks.items()}
        if self.label is not None:
            out["label"] = self.label
        if self.environment is not None:
            out["environment"] = dict(self.environment)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "run.json") -> RunInfo:
        """Read ``run.json``'s content (``where`` names it in errors); unknown keys go to ``extra``."""
        missing = [k for k in ("graph_config", "model_config", "train_config") if k not in d]
        if missing:
            raise ValueError(f"{where} lacks {missing} (not a run record mmgraph wrote?)")
        d = dict(d)
        return cls(
            graph_config=GraphConfig.from_record(d.pop("graph_config")),
            model_config=ModelConfig.from_dict(d.pop("model_config")),
            train_config=TrainConfig.from_dict(d.pop("train_config")),
            tasks={k: Task(**v) for k, v in d.pop("tasks", {}).items()},
            kind=d.pop("kind", "train"),
            data=d.pop("data", None),
            root=d.pop("root", None),
            data_seed=d.pop("data_seed", None),
            dataset=d.pop("dataset", None),
            val_split=d.pop("val_split", None),
            pretrain_config=d.pop("pretrain_config", None),
            label=d.pop("label", None),
            environment=d.pop("environment", None),
            extra=d,
        )


class RunFolder:
    """A run folder: the path of each of its files, ``run.json`` read and written, checkpoint lookup.

    Args:
        path: the folder (need not exist yet).
    """

    INFO = "run.json"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ---------------------------------------------------------------------------------------- paths

    @property
    def info_path(self) -> Path:
        return self.path / self.INFO

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, name: str = "best") -> Path:
        """``checkpoints/<name>.pt`` (``name``: ``best`` or ``last``)."""
        if name not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {CHECKPOINTS} (got {name!r})")
        return self.checkpoint_dir / f"{name}.pt"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint("last")

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoint("best")

    @property
    def metrics_json(self) -> Path:
        return self.path / "metrics.json"

    @property
    def metrics_csv(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def curves_png(self) -> Path:
        return self.path / "curves.png"

    @property
    def test_metrics(self) -> Path:
        return self.path / "test_metrics.json"

    @property
    def pretrain_metrics(self) -> Path:
        return self.path / "pretrain_metrics.json"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    # ---------------------------------------------------------------------------------------- state

    def has_info(self) -> bool:
        return self.info_path.is_file()

    def has_checkpoint(self) -> bool:
        """Whether a training epoch finished here (``checkpoints/last.pt`` exists): the run can resume."""
        return self.last_checkpoint.exists()

    def read_info(self) -> RunInfo:
        """The folder's ``RunInfo`` (``ValueError`` when it has no ``run.json``)."""
        if not self.has_info():
            raise ValueError(f"{self.path} is not a run folder (no run.json)")
        return RunInfo.from_dict(json.loads(self.info_path.read_text()), str(self.info_path))

    def read_info_for_resume(self) -> RunInfo:
        """The ``RunInfo`` of a run to resume (``ValueError`` naming ``--resume`` when there is none)."""
        if not self.has_info():
            raise ValueError(f"--resume: {self.path} holds no run (no run.json)")
        return self.read_info()

    def write_info(self, info: RunInfo) -> None:
        """Write ``run.json`` (atomically; the folder is created)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_json(self.info_path, info.to_dict())

    @staticmethod
    def write_json(path: Path, data: Any) -> None:
        """A JSON file of the folder (indented, written atomically)."""
        write_atomic(path, json.dumps(data, indent=2).encode())

    # ----------------------------------------------------------------------------- sources of weights

    @classmethod
    def containing(cls, source: str | Path) -> RunFolder | None:
        """The run folder of ``source``: a run folder, or a checkpoint inside one's ``checkpoints/``
        (``None``: neither holds a ``run.json``)."""
        path = Path(source)
        for folder in (path, path.parent.parent):
            if (folder / cls.INFO).is_file():
                return cls(folder)
        return None

    @classmethod
    def checkpoint_of(cls, source: str | Path) -> Path:
        """The checkpoint file ``source`` names: a run folder's ``best.pt``, or ``source`` itself."""
        path = Path(source)
        return cls(path).best_checkpoint if path.is_dir() else path

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"


__all__ = ["CHECKPOINTS", "RUN_KINDS", "RunFolder", "RunInfo"]
