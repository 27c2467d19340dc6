"""Training runs on disk: dataset + model config + trainer → a run folder, and loading it back.

The folder's layout and ``run.json`` are ``mmgraph.train.run_folder``'s; ``train_run`` writes a
training run's (plus ``test_metrics.json``), ``load_run`` rebuilds the trained model from it and
``init_from`` copies a run's weights into another model (fine-tuning).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from mmgraph.datasets import MultimodalDataset, load_dataset
from mmgraph.datasets.base import GraphDataset
from mmgraph.datasets.on_disk import load_converted
from mmgraph.datasets.streaming import DEFAULT_BUFFER_SIZE, StreamingGraphDataset, choose_streaming
from mmgraph.errors import import_extra
from mmgraph.files import load_toml
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.models.build import with_default_text_encoder
from mmgraph.task import Task
from mmgraph.train.checkpoint import checkpoint_info, load_checkpoint, read_checkpoint
from mmgraph.train.distributed import ProcessPlace, barrier, is_main_process, resolve_device, torchrun_process_group
from mmgraph.train.environment import environment, use_threads_of
from mmgraph.train.finetune import check_mode
from mmgraph.train.finetune import finetune as finetune_model
from mmgraph.train.run_folder import RunFolder, RunInfo
from mmgraph.train.trainer import TrainConfig, Trainer, seed_everything

log = logging.getLogger(__name__)


MODEL_FILE_TABLES = ("model", "train")
"""The tables a ``--model`` TOML file may hold: the model's settings and, optionally, the training's."""
RUNTIME_SETTINGS = ("progress", "device", "tensorboard")
"""``TrainConfig`` fields that do not change what a run computes: any call may set them, ``--resume`` too."""
EXTENDING_SETTINGS = ("epochs", "patience")
"""The settings ``--resume`` may change: more epochs (or patience) extend a run."""
VAL_FRACTION = 0.1
"""Share of ``train`` held out for validation when the data has no ``val`` split."""


def read_model_file(spec: str | ModelConfig | None) -> tuple[ModelConfig, dict[str, Any]]:
    """The ``ModelConfig`` and the ``[train]`` table (``{}``: none) a model spec gives.

    ``spec`` is a ``ModelConfig``, a registered model name, or a TOML file holding a ``[model]``
    table (or the model's fields at the top level) and optionally a ``[train]`` table of
    ``TrainConfig`` settings. ``None`` is the default model, ``mmgnn``.

    Raises:
        ValueError: unknown model name, missing file, or a table the file may not hold.
    """
    if spec is None:
        return ModelConfig(), {}
    if isinstance(spec, ModelConfig):
        return spec, {}
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ValueError(f"model config not found: {path}")
        data = load_toml(path)
        train = data.pop("train", {})
        if not isinstance(train, dict):
            raise ValueError(f"{path}: 'train' must be a table ([train]) of training settings")
        if "model" in data:
            others = sorted(set(data) - {"model"})
            if others:
                raise ValueError(f"{path}: unknown tables or keys {others}; a model file holds the tables "
                                 f"{list(MODEL_FILE_TABLES)} (graph settings go in a file of their own)")
            data = data["model"]
        try:
            return ModelConfig.from_dict(data), train
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    from mmgraph.models import MODELS

    if spec not in MODELS:
        raise ValueError(f"--model must be a TOML file or a model name; unknown {spec!r} (models: {MODELS.list()})")
    return ModelConfig(name=spec), {}


def model_config_from(spec: str | ModelConfig | None) -> ModelConfig:
    """A ``ModelConfig`` from a TOML path, a registered model name, or a config (``None``: ``mmgnn``)."""
    return read_model_file(spec)[0]


def train_config_from(spec: str | ModelConfig | None, train_config: TrainConfig | None = None,
                      overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The training settings of a run: ``train_config`` or the model file's ``[train]`` table (else the
    defaults), then ``overrides`` (command-line flags) on top.

    Raises:
        ValueError: both ``train_config`` and a ``[train]`` table are given, or a setting is invalid.
    """
    _, table = read_model_file(spec)
    if train_config is not None and table:
        raise ValueError(f"{spec}: the model file has a [train] table and a TrainConfig was given too; give one")
    if train_config is None:
        try:
            train_config = TrainConfig.from_dict(table)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{spec}: [train]: {exc}") from None
    return train_config.replace(**dict(overrides or {}))


@dataclass
class LoadedRun:
    """A trained run: its model (best checkpoint, eval mode), folder and ``run.json`` record.

    ``mmgraph.load_run(path)`` returns one::

        run = mmgraph.load_run("runs/digits")
        run.model, run.graph_config, run.tasks, run.class_names   # nn.Module, GraphConfig, Task, names
    """

    model: nn.Module
    folder: RunFolder
    record: RunInfo

    @property
    def graph_config(self) -> GraphConfig:
        """How the run's samples become graphs (its tokenizer included): featurize new data with it."""
        return self.record.graph_config

    @property
    def tasks(self) -> dict[str, Task]:
        """Every task of the run's data (the model predicts those it has heads for)."""
        return self.record.tasks

    @property
    def class_names(self) -> dict[str, tuple[str, ...]]:
        """Classification task → the name of each class id (tasks whose data named them)."""
        return {k: t.class_names for k, t in self.tasks.items() if t.class_names is not None}

    @property
    def info(self) -> dict[str, Any]:
        """``run.json`` as a dict."""
        return self.record.to_dict()

    def check_data(self, dataset: MultimodalDataset) -> None:
        """Refuse data this run's model cannot read or score.

        Raises:
            ValueError: the data has modalities the run's graphs lack, or a task of the run's name
                with another kind, more classes, or other class names (or names where the run's
                classes are numbers).
        """
        extra = sorted(set(dataset.modalities) - set(self.graph_config.modalities))
        if extra:
            raise ValueError(f"{dataset.name} has modalities {extra} that run {self.folder.path} was not trained on "
                             f"(its graphs have {list(self.graph_config.modalities)})")
        for name, task in self.tasks.items():
            other = dataset.tasks.get(name)
            if other is None:
                continue
            where = f"task {name!r} of {dataset.name}"
            if other.kind != task.kind:
                raise ValueError(f"{where} is {other.kind} but the run's is {task.kind}")
            if task.is_classification and other.num_classes > task.num_classes:
                raise ValueError(f"{where} has {other.num_classes} classes, more than the run's {task.num_classes}")
            if task.is_classification and other.class_names and not task.class_names:
                shown = ", ".join(other.class_names[:5]) + (", ..." if len(other.class_names) > 5 else "")
                raise ValueError(f"{where} names its classes ({shown}) but the run's classes are numbers: give the "
                                 f"class ids it was trained on")
            if task.class_names and other.class_names and \
                    tuple(task.class_names[:other.num_classes]) != tuple(other.class_names):
                raise ValueError(f"{where} names its classes {list(other.class_names)[:5]}..., the run "
                                 f"{list(task.class_names)[:5]}...: class ids would mean other classes")

    def is_own_data(self, data: str) -> bool:
        """Whether ``data`` names the data the run was trained on (same built-in name or same file)."""
        stored = self.record.data
        if stored is None:
            return False
        if Path(stored).exists() and Path(data).exists():
            return Path(stored).resolve() == Path(data).resolve()
        return stored.lower() == data.lower()  # built-in names are case-insensitive

    def load_data(self, data: str | None = None, *, root: str | None = None,
                  allow_outside: bool = False) -> MultimodalDataset:
        """A dataset to apply the run to (checked with ``check_data``): ``data``, or the run's own.

        ``root`` defaults to the run's; the run's own data is read with its ``data_seed``. Data other
        than the run's is logged as a warning (its ids and samples are not the ones trained on). A
        manifest's class names are read with the run's (``class_names``): the ids mean the run's
        classes, and a record naming a class the run does not know is rejected (logged; its label
        cannot be scored, and a record to predict needs no label).
        """
        if data is None:
            if self.record.data is None:
                raise ValueError(f"run {self.folder.path} does not record its data; name the data to use")
            data = self.record.data
        own = self.is_own_data(data)
        if not own:
            log.warning("applying run %s (trained on %s) to other data: %s", self.folder.path, self.record.data, data)
        dataset = load_dataset(data, root=root or self.record.root, seed=(self.record.data_seed or 0) if own else 0,
                               allow_outside=allow_outside, class_names=self.class_names)
        self.check_data(dataset)
        return dataset


    def featurize(self, dataset: MultimodalDataset, split: str = "all", *,
                  progress: bool = False) -> tuple[GraphDataset, list[str]]:
        """A split of ``dataset`` (``"all"``: every split, in order) featurized with the run's graph config,
        and the split of each sample.

        Raises:
            ValueError: the dataset has no such split.
        """
        if split == "all":
            names = list(dataset.splits)
        elif split in dataset.splits:
            names = [split]
        else:
            raise ValueError(f"{dataset.name} has no split {split!r} (splits: {list(dataset.splits)}, or 'all')")
        parts = [dataset.featurize(name, self.graph_config, progress=progress) for name in names]
        of = [name for name, part in zip(names, parts) for _ in range(len(part))]
        if len(parts) == 1:
            return parts[0], of
        return GraphDataset(GraphColumns.concat([p.data for p in parts]), self.graph_config), of


def train_run(
    data: str,
    model: str | ModelConfig | None = None,
    out: str | Path | None = None,
    *,
    train_config: TrainConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    root: str | None = None,
    data_seed: int = 0,
    resume: bool = False,
    init: str | Path | None = None,
    graph: Mapping[str, Any] | None = None,
    allow_outside: bool = False,
    stream: bool | None = None,
    buffer_size: int = DEFAULT_BUFFER_SIZE,
    finetune: str | None = None,
) -> dict[str, Any]:
    """Train a model on a dataset into a run folder; returns the final metrics.

    Args:
        data: built-in dataset name, manifest path or converted-graphs folder.
        model: model config (TOML path, model name, or ``ModelConfig``; ``None``: ``mmgnn``). A TOML
            file may hold a ``[train]`` table: the run's training settings.
        out: run folder.
        train_config: optimisation settings (default: the model file's ``[train]`` table, else
            ``TrainConfig()``); give this or a ``[train]`` table, not both.
        overrides: ``TrainConfig`` fields set on top (the command line's flags). With ``resume``,
            only ``epochs`` and ``patience`` may differ from the stored run (more epochs extend
            it, see below), besides ``progress``, ``device`` and ``tensorboard``.
        root: raw-data folder for datasets that need one.
        data_seed: the dataset's seed.
        resume: continue the run in ``out`` from its last checkpoint, with its stored settings.
            With more ``epochs`` than stored the run is extended: the learning-rate schedule is
            recomputed for the new total, so from the resumed step on the rate follows the
            warm-up + cosine curve of a run of that many epochs (it rises again from near 0).
        init: a run folder (or checkpoint file) whose matching weights initialise the model
            (fine-tuning from pretraining); parameters of other shapes or names are left as built.
            The data is featurized with the init run's graph config (its tokenizer included).
        graph: overrides of the graph config (a ``[graph]`` table, as ``mmgraph train --graph FILE.toml``
            reads it): applied to the dataset's recommended config, or to the init run's, with
            ``GraphConfig.with_overrides``. A resumed run keeps its stored config: passing both is an error.
        allow_outside: accept manifest file paths outside the manifest's folder.
        stream: read the training split of a converted folder shard by shard
            (``StreamingGraphDataset``; val and test stay in memory); ``None``: only when it would
            not fit in memory (``choose_streaming``, stated in the log).
        buffer_size: samples per shuffle window when streaming.
        finetune: with ``init``, how to fine-tune (``mmgraph.train.finetune``): ``"full"``, ``"probe"``
            (the task head alone, the rest frozen) or ``"lpft"`` (probe, then everything with the
            pretrained parameters at 0.1 x lr); each keeps the init run's encoder input statistics.
            ``None``: train every parameter with the model set up on this data (as without ``init``).

    Data without a ``val`` split gets one: ``VAL_FRACTION`` of ``train`` held out, seeded with
    ``data_seed`` (logged, and recorded in ``run.json`` as ``val_split``).

    Under ``torchrun --nproc-per-node N -m mmgraph train ...`` every process runs this function:
    the process group is joined here, each rank trains on its part of every global batch
    (``DistributedDataParallel``), and rank 0 alone writes the run folder.
    """
    if out is None:
        raise ValueError("train_run needs a run folder (out)")
    with torchrun_process_group():
        return _train_run(data, model, out, train_config, dict(overrides or {}), root, data_seed, resume, init,
                          graph, allow_outside, stream, buffer_size, finetune)


def check_runtime(config: TrainConfig) -> None:
    """Check what a run needs of this machine before any data is read: the device, the TensorBoard extra.

    Raises:
        DeviceError: the device is not available here.
        MissingExtra: ``tensorboard`` is asked for but not installed.
    """
    resolve_device(config.device)
    if config.tensorboard:
        import_extra("tensorboard", "tensorboard", "TensorBoard logging (--tensorboard)")


def resumed_settings(folder: RunFolder, model: str | ModelConfig | None, train_config: TrainConfig | None,
                      overrides: dict[str, Any]) -> RunInfo:
    """The stored run of ``folder`` with the changes ``--resume`` allows (checked), its ``run.json`` updated.

    ``model`` and ``train_config`` (when given) must be the stored ones; ``overrides`` may change
    ``RUNTIME_SETTINGS`` and ``EXTENDING_SETTINGS`` only (more epochs extend the run).
    """
    stored = folder.read_info_for_resume()
    if model is not None and model_config_from(model) != stored.model_config:
        raise ValueError(f"--resume: {folder.path} was trained with another model config; resume it without "
                         f"--model (its stored config is used)")
    given = {**(train_config.to_dict() if train_config is not None else {}), **overrides}
    changed = {k: v for k, v in given.items()
               if k not in RUNTIME_SETTINGS and getattr(stored.train_config, k) != v}
    refused = sorted(set(changed) - set(EXTENDING_SETTINGS))
    if refused:
        shown = ", ".join(f"{k} (stored {getattr(stored.train_config, k)!r}, given {changed[k]!r})" for k in refused)
        raise ValueError(f"--resume continues a run with its stored settings; these cannot change: {shown}. "
                         f"Only {' and '.join(EXTENDING_SETTINGS)} can (to extend the run)")
    config = stored.train_config.replace(**{k: v for k, v in given.items()
                                            if k in RUNTIME_SETTINGS or k in changed})
    if config.epochs != stored.train_config.epochs:
        done = checkpoint_info(folder.last_checkpoint).get("epoch") if folder.has_checkpoint() else None
        trained = 0 if done is None else int(done) + 1
        if config.epochs <= trained:
            raise ValueError(f"--resume --epochs {config.epochs}: the run has already trained {trained} epoch(s); "
                             f"give more epochs to extend it")
        log.warning("extending %s from %d to %d epochs: the learning rate follows the cosine schedule of a "
                    "%d-epoch run from epoch %d on", folder.path, stored.train_config.epochs, config.epochs,
                    config.epochs, trained + 1)
    if changed and is_main_process():
        folder.write_info(replace(stored, train_config=stored.train_config.replace(**changed)))
    barrier()
    return replace(stored, train_config=config)


def _load(data: str, root: str | None, data_seed: int, allow_outside: bool, streaming: bool,
          tasks: Mapping[str, Task] | None = None) -> MultimodalDataset:
    """The run's data; a streamed converted folder without its train split (read shard by shard later).

    ``tasks``: a resumed run's, whose class names a manifest's string labels are read with.
    """
    if streaming:
        return load_converted(data, skip=("train",))
    class_names = {k: t.class_names for k, t in (tasks or {}).items() if t.class_names is not None}
    return load_dataset(data, root=root, seed=data_seed, allow_outside=allow_outside, class_names=class_names)


def _train_run(data, model, out, train_config, overrides, root, data_seed, resume, init, graph,
               allow_outside, stream, buffer_size, finetune) -> dict[str, Any]:
    folder = RunFolder(out)
    if finetune is not None:
        check_mode(finetune)
        if init is None:
            raise ValueError("finetune needs init: the pretrained run (or checkpoint) to fine-tune")
    streaming = choose_streaming(data, stream)
    if resume and graph:
        raise ValueError("a resumed run keeps the graph config in its run.json; drop --graph (or start a new run)")
    if resume:
        info = resumed_settings(folder, model, train_config, overrides)
        check_runtime(info.train_config)
        dataset = _load(data, root, data_seed, allow_outside, streaming, info.tasks)
        if info.val_split is not None:
            dataset, _ = dataset.hold_out_val(info.val_split["fraction"], info.val_split["seed"])
        threads = use_threads_of(info.environment)  # the thread count is part of what the numbers depend on
        if threads is not None:
            log.info("resuming with the run's %d thread(s)", threads)
    else:
        if folder.has_checkpoint():
            raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        model_config = model_config_from(model)
        config = train_config_from(model, train_config, overrides)
        check_runtime(config)
        dataset = _load(data, root, data_seed, allow_outside, streaming)
        val_split = None
        if "val" not in dataset.splits and streaming:
            log.warning("%s has no val split and its train split is streamed: no validation (convert the data "
                        "with a val split for model selection)", data)
        elif "val" not in dataset.splits:
            dataset, val_split = dataset.hold_out_val(VAL_FRACTION, seed=data_seed)
            log.warning("%s has no val split: %d of its training samples (%.0f%%, seed %d) are held out for "
                        "validation (recorded in run.json as val_split)", dataset.name, val_split["samples"],
                        100 * VAL_FRACTION, data_seed)
        # fine-tuning reads the data as the init run did: same tokenizer (token ids index its
        # embedding table), same patch size and audio frames
        graph_config = init_graph_config(init, dataset.modalities) if init is not None else None
        if graph:
            graph_config = (graph_config or dataset.graph_config).with_overrides(graph)
        graph_config = dataset.fit_graph_config(graph_config)
        model_config = with_default_text_encoder(model_config, graph_config.modalities)
        info = RunInfo(graph_config, model_config, config, dict(dataset.tasks), data=data, root=root,
                       data_seed=data_seed, dataset=dataset.name, val_split=val_split,
                       environment=environment(ProcessPlace.current(config.device).device))
        if is_main_process():
            folder.write_info(info)
        barrier()
    graph_config, model_config, train_config = info.graph_config, info.model_config, info.train_config
    progress = train_config.progress and is_main_process()
    splits = {s: dataset.featurize(s, graph_config, progress=progress) for s in dataset.splits}
    if streaming:
        world = ProcessPlace.current(train_config.device).world_size  # a stream batches per rank
        splits["train"] = StreamingGraphDataset(data, "train", batch_size=max(1, train_config.batch_size // world),
                                                seed=train_config.seed, buffer_size=buffer_size)
        log.info("training split streamed: %r", splits["train"])
    seed_everything(train_config.seed)
    net = build_model(model_config, DataSpec.from_graph_config(graph_config, info.tasks))
    if init is not None and not resume:
        loaded = init_from(net, init)
        log.info("initialised %d tensors from %s", loaded, init)
    # a run killed before its first checkpoint resumes from the start, with its stored settings
    has_checkpoint = folder.has_checkpoint()
    if resume and not has_checkpoint:
        log.info("%s has no checkpoint yet: starting the run from epoch 0", out)
    if finetune is not None:
        trainer, result = finetune_model(net, splits["train"], splits.get("val"), train_config, finetune,
                                         out_dir=folder.path, run_info={"data": data},
                                         resume=resume and has_checkpoint)
    else:
        trainer = Trainer(net, train_config, out_dir=folder.path, run_info={"data": data})
        result = trainer.fit(splits["train"], splits.get("val"), resume=resume and has_checkpoint)
    metrics: dict[str, Any] = {"best_epoch": result.best_epoch, "monitor": result.monitor,
                               "best_val": result.best_score, "train_seconds": result.train_seconds}
    for split in ("val", "test"):
        if split in splits:
            metrics[split] = trainer.evaluate(splits[split])
    if is_main_process():
        folder.write_json(folder.test_metrics, metrics)
    return metrics


def init_graph_config(source: str | Path, modalities: tuple[str, ...] | None = None) -> GraphConfig | None:
    """The graph config (with its tokenizer) of the run an ``init`` source belongs to (``None``: no run.json).

    Raises:
        ValueError: the data has ``modalities`` the init run's graphs do not.
    """
    folder = RunFolder.containing(source)
    if folder is None:
        log.warning("%s: no run.json beside the checkpoint; the graph config is refit on the data", source)
        return None
    config = folder.read_info().graph_config
    missing = sorted(set(modalities or ()) - set(config.modalities))
    if missing:
        raise ValueError(f"--init {source}: the data has modalities {missing} that the init run's graphs lack "
                         f"(it has {list(config.modalities)})")
    log.info("using the graph config (and tokenizer) of the init run %s", folder.path)
    return config


def init_from(model: nn.Module, source: str | Path) -> int:
    """Copy every tensor of a run's best checkpoint (or a checkpoint file) whose name and shape match.

    A pretraining checkpoint (``mmgraph pretrain``) names in its ``run_info`` where its graph model
    sits (``backbone_prefix``) and what of it not to transfer (``backbone_exclude``: the unused
    task head); only those graph-model tensors are copied, never the decoders or projections.
    """
    payload = read_checkpoint(RunFolder.checkpoint_of(source))
    state = payload["model"]
    run_info = payload.get("run_info") or {}
    prefix = run_info.get("backbone_prefix")
    if prefix:
        exclude = tuple(run_info.get("backbone_exclude", ()))
        state = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix) and not k[len(prefix):].startswith(exclude)}
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise ValueError(f"{source}: no parameter matches the model (is it a run of another architecture?)")
    model.load_state_dict(matched, strict=False)
    return len(matched)


def load_run(run_dir: str | Path, checkpoint: str = "best") -> LoadedRun:
    """A trained run in one line: its model (``checkpoint``: ``best`` or ``last``, in eval mode), graph
    config, tasks and class names (``LoadedRun``). ``mmgraph.load_run`` is this function."""
    folder = RunFolder(run_dir)
    info = folder.read_info()
    model = build_model(info.model_config, DataSpec.from_graph_config(info.graph_config, info.tasks))
    load_checkpoint(folder.checkpoint(checkpoint), model)
    model.eval()
    return LoadedRun(model, folder, info)
