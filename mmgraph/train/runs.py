"""Training runs on disk: dataset + model config + trainer → a run folder, and loading it back.

The folder's layout and ``run.json`` are ``mmgraph.train.run_folder``'s; ``train_run`` writes a
training run's (plus ``test_metrics.json``), ``load_run`` rebuilds the trained model from it and
``init_from`` copies a run's weights into another model (fine-tuning).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mmgraph.datasets import load_dataset
from mmgraph.datasets.on_disk import load_converted
from mmgraph.datasets.streaming import DEFAULT_BUFFER_SIZE, StreamingGraphDataset, choose_streaming
from mmgraph.graph.config import GraphConfig
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.task import Task
from mmgraph.train.checkpoint import load_checkpoint, read_checkpoint
from mmgraph.train.distributed import barrier, is_main_process, torchrun_process_group
from mmgraph.train.run_folder import RunFolder, RunInfo
from mmgraph.train.trainer import TrainConfig, Trainer, seed_everything

log = logging.getLogger(__name__)


def model_config_from(spec: str | ModelConfig) -> ModelConfig:
    """A ``ModelConfig`` from a TOML path, a registered model name, or a config."""
    if isinstance(spec, ModelConfig):
        return spec
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ValueError(f"model config not found: {path}")
        return ModelConfig.from_toml(path)
    from mmgraph.models import MODELS

    if spec not in MODELS:
        raise ValueError(f"--model must be a TOML file or a model name; unknown {spec!r} (models: {MODELS.list()})")
    return ModelConfig(name=spec)


@dataclass
class LoadedRun:
    """A trained run: its model (best checkpoint), folder and ``run.json`` record."""

    model: nn.Module
    folder: RunFolder
    record: RunInfo

    @property
    def graph_config(self) -> GraphConfig:
        return self.record.graph_config

    @property
    def tasks(self) -> dict[str, Task]:
        return self.record.tasks

    @property
    def info(self) -> dict[str, Any]:
        """``run.json`` as a dict."""
        return self.record.to_dict()


def train_run(
    data: str,
    model: str | ModelConfig,
    out: str | Path,
    *,
    train_config: TrainConfig | None = None,
    root: str | None = None,
    data_seed: int = 0,
    resume: bool = False,
    init: str | Path | None = None,
    stream: bool | None = None,
    buffer_size: int = DEFAULT_BUFFER_SIZE,
) -> dict[str, Any]:
    """Train a model on a dataset into a run folder; returns the final metrics.

    Args:
        data: built-in dataset name, manifest path or converted-graphs folder.
        model: model config (TOML path, model name, or ``ModelConfig``).
        out: run folder.
        train_config: optimisation settings (``TrainConfig()`` by default).
        root: raw-data folder for datasets that need one.
        data_seed: the dataset's seed.
        resume: continue the run in ``out`` from its last checkpoint (same settings).
        init: a run folder (or checkpoint file) whose matching weights initialise the model
            (fine-tuning from pretraining); parameters of other shapes or names are left as built.
            The data is featurized with the init run's graph config (its tokenizer included).
        stream: read the training split of a converted folder shard by shard
            (``StreamingGraphDataset``; val and test stay in memory); ``None``: only when it would
            not fit in memory (``choose_streaming``, stated in the log).
        buffer_size: samples per shuffle window when streaming.

    Under ``torchrun --nproc-per-node N -m mmgraph train ...`` every process runs this function:
    the process group is joined here, each rank trains on its part of every global batch
    (``DistributedDataParallel``), and rank 0 alone writes the run folder.
    """
    with torchrun_process_group():
        return _train_run(data, model, out, train_config, root, data_seed, resume, init, stream, buffer_size)


def _train_run(data, model, out, train_config, root, data_seed, resume, init, stream, buffer_size) -> dict[str, Any]:
    folder = RunFolder(out)
    train_config = train_config or TrainConfig()
    streaming = choose_streaming(data, stream)
    dataset = load_converted(data, skip=("train",)) if streaming else load_dataset(data, root=root, seed=data_seed)
    if resume:
        stored = folder.read_info_for_resume()
        graph_config, model_config = stored.graph_config, stored.model_config
        train_config = stored.train_config.replace(progress=train_config.progress)
    else:
        if folder.has_checkpoint():
            raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        model_config = model_config_from(model)
        # fine-tuning reads the data as the init run did: same tokenizer (token ids index its
        # embedding table), same patch size and audio frames
        graph_config = init_graph_config(init, dataset.modalities) if init is not None else None
        graph_config = graph_config or dataset.fit_graph_config()
        info = RunInfo(graph_config, model_config, train_config, dict(dataset.tasks), data=data, root=root,
                       data_seed=data_seed, dataset=dataset.name)
        if is_main_process():
            folder.write_info(info)
        barrier()
    progress = train_config.progress and is_main_process()
    splits = {s: dataset.featurize(s, graph_config, progress=progress) for s in dataset.splits}
    if streaming:
        splits["train"] = StreamingGraphDataset(data, "train", batch_size=train_config.batch_size,
                                                seed=train_config.seed, buffer_size=buffer_size)
        log.info("training split streamed: %r", splits["train"])
    seed_everything(train_config.seed)
    net = build_model(model_config, DataSpec.from_graph_config(graph_config, dataset.tasks))
    if init is not None and not resume:
        loaded = init_from(net, init)
        log.info("initialised %d tensors from %s", loaded, init)
    trainer = Trainer(net, train_config, out_dir=folder.path, run_info={"data": data})
    # a run killed before its first checkpoint resumes from the start, with its stored settings
    has_checkpoint = folder.has_checkpoint()
    if resume and not has_checkpoint:
        log.info("%s has no checkpoint yet: starting the run from epoch 0", out)
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
    """Rebuild a trained model from a run folder (``checkpoint``: ``best`` or ``last``)."""
    folder = RunFolder(run_dir)
    info = folder.read_info()
    model = build_model(info.model_config, DataSpec.from_graph_config(info.graph_config, info.tasks))
    load_checkpoint(folder.checkpoint(checkpoint), model)
    model.eval()
    return LoadedRun(model, folder, info)
