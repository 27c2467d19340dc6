"""``Trainer``: fit / evaluate / predict any mmgraph model on ``GraphDataset``s."""

from __future__ import annotations

import csv
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from mmgraph.datasets.base import GraphDataset
from mmgraph.datasets.streaming import StreamingGraphDataset
from mmgraph.errors import import_extra
from mmgraph.files import remove_stale_temps, write_atomic
from mmgraph.graph.collate import full_edges_for
from mmgraph.nn.heads import Head
from mmgraph.train.checkpoint import load_checkpoint, save_checkpoint, save_weights
from mmgraph.train.config import TrainConfig
from mmgraph.train.curves import epoch_line, plot_curves
from mmgraph.train.distributed import ProcessPlace
from mmgraph.train.run_folder import RunFolder

log = logging.getLogger(__name__)

BatchTransform = Callable[[HeteroData], HeteroData]


@dataclass
class FitResult:
    """What ``Trainer.fit`` returns."""

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float | None
    monitor: str | None
    stopped_early: bool
    train_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds the legacy global generator user code may draw from
    torch.manual_seed(seed)


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at each step: linear warm-up, then cosine to 0."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class Trainer:
    """Trains and evaluates a model (every mmgraph model has what it reads):

    - ``forward(batch)`` → an output with ``predictions`` (task → tensor) and ``graph_embedding``;
    - ``loss(output, batch)`` → ``(total, parts)``;
    - ``task_heads``: task name → ``Head`` (scored by ``evaluate``; empty: only the loss);
    - optionally ``prepare(data, embed, seed)``: data-dependent set-up before training
      (``mmgraph.nn.prepare``), called once by ``fit`` (not when resuming);
    - optionally ``supports_dense_blocks = True``: the model reads complete blocks from their
      ``dense=True`` marks, so its batches skip those edge lists (``full_edges="dense"``); other
      models get every edge list (``full_edges="list"``).

    Args:
        model: the model.
        config: ``TrainConfig``.
        out_dir: run folder (``RunFolder``) for checkpoints (``checkpoints/last.pt``, ``best.pt``),
            per-epoch metrics (``metrics.json``, ``metrics.csv``), the learning curves
            (``curves.png``) and TensorBoard logs; ``None``: keep nothing on disk.

    With ``config.progress`` the main process shows a bar per epoch and one line per finished
    epoch (train loss, the monitored validation metric, seconds).
        run_info: extra JSON-able facts stored in checkpoints (configs, dataset name).
        lr_scale: parameter-name prefix → multiplier of the learning rate (e.g. ``{"encoders.": 0.1}``;
            the longest matching prefix wins, others get ``config.lr``). Parameters with
            ``requires_grad=False`` are left out of the optimiser (frozen: never changed).

    Each epoch's row holds ``train_loss`` and the epoch mean of every part the model's ``loss``
    returns (``train/<part>``; this process's samples).
    """

    def __init__(self, model: nn.Module, config: TrainConfig | None = None, out_dir: str | Path | None = None,
                 run_info: dict[str, Any] | None = None, lr_scale: Mapping[str, float] | None = None) -> None:
        self.model = model
        self.config = config or TrainConfig()
        self.lr_scale = dict(lr_scale or {})
        self.folder = None if out_dir is None else RunFolder(out_dir)
        self.run_info = dict(run_info or {})
        place = ProcessPlace.current(self.config.device)
        self.distributed, self.rank, self.world_size = place.distributed, place.rank, place.world_size
        self.is_main, self.device = place.is_main, place.device
        self.model.to(self.device)
        self._train_module: nn.Module = place.wrap(self.model)

    # ------------------------------------------------------------------------------------- helpers

    @property
    def heads(self) -> Mapping[str, Head]:
        """The model's task heads (``model.task_heads``): what ``evaluate`` scores and ``fit`` selects on."""
        return self.model.task_heads

    def rank_batch_size(self) -> int:
        """This process's share of the global batch: ``config.batch_size / world_size``.

        ``batch_size`` is the global batch however many processes train (``torchrun`` or one), so
        that N processes take the same optimisation steps on the same global batches as one.
        """
        batch, world = self.config.batch_size, self.world_size
        if batch % world:
            raise ValueError(f"batch_size (got {batch}) is the global batch, divided among the {world} processes: "
                             f"it must be a multiple of {world}")
        return batch // world

    def default_monitor(self) -> str:
        name, head = next(iter(self.heads.items()))
        return f"{name}/{head.headline}"

    def _higher_is_better(self, monitor: str) -> bool:
        if "/" not in monitor:  # a metric of no task: "loss" (e.g. pretraining, which has no task heads)
            return monitor not in ("loss", "mae", "rmse")
        task, metric = monitor.split("/", 1)
        if metric in ("loss", "mae", "rmse"):
            return False
        if task in self.heads:
            head = self.heads[task]
            return head.higher_is_better if metric == head.headline else True
        return True

    def _loader(self, dataset: GraphDataset, batch_size: int, *, shuffle: bool, epoch: int = 0,
                sampler: torch.utils.data.Sampler | None = None):
        if shuffle and sampler is None:
            from torch.utils.data import DistributedSampler

            # one process or N, the permutation of epoch e is the same (seed + e): 1 process with
            # batch B*N sees the same global batches as N processes with batch B
            sampler = DistributedSampler(range(len(dataset)), num_replicas=self.world_size, rank=self.rank,
                                         shuffle=True, seed=self.config.seed)
            sampler.set_epoch(epoch)
        return dataset.loader(batch_size, shuffle=False, sampler=sampler, full_edges=full_edges_for(self.model))

    def param_groups(self) -> list[dict[str, Any]]:
        """The optimiser's parameter groups: trainable parameters by learning rate (``lr_scale``)."""
        groups: dict[float, list[nn.Parameter]] = {}
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            matches = [k for k in self.lr_scale if name.startswith(k)]
            scale = self.lr_scale[max(matches, key=len)] if matches else 1.0
            groups.setdefault(scale, []).append(p)
        if not groups:
            raise ValueError("the model has no trainable parameter (every one has requires_grad=False)")
        return [{"params": ps, "lr": self.config.lr * scale} for scale, ps in groups.items()]

    def prepare(self, train: GraphDataset) -> None:
        """Data-dependent set-up before training: the model's ``prepare`` hook (``mmgraph.nn.prepare``:
        input and target standardisation, cluster centroids), given this trainer's embeddings and seed."""
        prepare = getattr(self.model, "prepare", None)
        if prepare is not None:
            prepare(train, lambda: self.embed(train), self.config.seed)

    @torch.no_grad()
    def embed(self, dataset: GraphDataset, transform: BatchTransform | None = None) -> Tensor:
        """Graph embeddings ``(n, d)`` of a dataset (eval mode)."""
        self.model.eval()
        out = []
        for batch in self._loader(dataset, self.config.eval_batch_size, shuffle=False):
            batch = transform(batch) if transform else batch
            out.append(self.model(batch.to(self.device)).graph_embedding.cpu())
        return torch.cat(out)

    # ------------------------------------------------------------------------------------------ fit

    def fit(self, train: GraphDataset | StreamingGraphDataset, val: GraphDataset | None = None, *, resume: bool = False,
            sampler_factory: Callable[[int], torch.utils.data.Sampler] | None = None,
            on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
            on_epoch_start: Callable[[int], None] | None = None,
            epoch_metrics: Callable[[int], Mapping[str, float]] | None = None,
            prepare: bool = True) -> FitResult:
        """Train for ``config.epochs`` (or until early stopping), validating each epoch.

        With ``resume=True`` and a ``checkpoints/last.pt`` in the run folder, training continues from
        it and ends with the same weights and metrics as an uninterrupted run.

        Args:
            train, val: datasets (``val`` drives model selection and early stopping); ``train`` may be a
                ``StreamingGraphDataset`` (data larger than memory: read shard by shard; its batch
                size and seed must be the config's).
            resume: continue from the run folder's ``checkpoints/last.pt``.
            sampler_factory: ``epoch → Sampler`` (e.g. a ``DistributedSampler``).
            on_epoch_end: called with ``(epoch, metrics row)`` after each epoch's checkpoint.
            on_epoch_start: called with ``epoch`` before each epoch's first step (e.g. to re-draw
                augmentations in the training data; resuming calls it for the resumed epoch).
            epoch_metrics: ``epoch → {name: value}`` merged into the epoch's row before model selection
                and saving (e.g. a held-out loss; ``val/loss`` there is what ``monitor="loss"`` reads).
            prepare: run the model's ``prepare`` hook first (``False``: the model is already set up,
                e.g. fine-tuning keeps a pretrained encoder's input statistics).
        """
        cfg = self.config
        monitor = cfg.monitor or (self.default_monitor() if val is not None else None)
        higher = self._higher_is_better(monitor) if monitor else True
        streaming = isinstance(train, StreamingGraphDataset)
        if streaming:
            _check_stream(train, cfg, self.world_size, self.rank_batch_size())
        # a stream knows its batches per rank from meta.json's counts: the schedule is the same either way
        steps_per_epoch = len(train) if streaming else math.ceil(math.ceil(len(train) / self.world_size) /
                                                                 self.rank_batch_size())
        epochs = cfg.epochs if cfg.steps is None else math.ceil(cfg.steps / max(1, steps_per_epoch))
        total_steps = steps_per_epoch * epochs if cfg.steps is None else cfg.steps
        # foreach: one kernel per op over all parameters (the default on CPU loops over them); the same numbers
        optimizer = torch.optim.AdamW(self.param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(total_steps, max(1, round(cfg.warmup * total_steps)))
        )
        history: list[dict[str, float]] = []
        best_score, best_epoch, start_epoch, since_best = None, -1, 0, 0
        folder = self.folder
        last_path = folder.last_checkpoint if folder else None
        writes = folder is not None and self.is_main
        if resume:
            if last_path is None or not last_path.exists():
                raise FileNotFoundError(f"--resume: no checkpoint at {last_path}")
            if self.is_main:
                remove_stale_temps(last_path.parent)
            state = load_checkpoint(last_path, self.model, optimizer, scheduler)
            history, start_epoch = state["history"], state["epoch"] + 1
            best_score, best_epoch, since_best = state["best_score"], state["best_epoch"], state["since_best"]
            log.info("resumed from %s at epoch %d", last_path, start_epoch)
        elif prepare:
            # a stream's model set-up reads its first buffer_size samples (all of them when they fit)
            self.prepare(train.head(train.buffer_size) if streaming else train)
        writer = self._tensorboard()
        t_start = time.perf_counter()
        stopped = False
        self._best_state: dict[str, Tensor] | None = None
        for epoch in range(start_epoch, epochs):
            if cfg.patience is not None and since_best >= cfg.patience:
                stopped = True
                break
            t0 = time.perf_counter()
            if on_epoch_start is not None:
                on_epoch_start(epoch)
            train_loss, parts = self._train_epoch(train, optimizer, scheduler, epoch, sampler_factory, epochs,
                                                  total_steps)
            row: dict[str, float] = {"epoch": epoch, "train_loss": train_loss, "lr": scheduler.get_last_lr()[0],
                                     "epoch_seconds": time.perf_counter() - t0, "steps": scheduler.last_epoch}
            row.update({f"train/{k}": v for k, v in parts.items()})
            if val is not None:
                row.update({f"val/{k}": v for k, v in self.evaluate(val).items()})
            if epoch_metrics is not None:
                row.update(epoch_metrics(epoch))
            history.append(row)
            score = row.get(f"val/{monitor}") if monitor else None
            improved = score is not None and (
                best_score is None or (score > best_score if higher else score < best_score)
            )
            if improved or (monitor is None):
                best_score, best_epoch, since_best = score, epoch, 0
                if writes:
                    save_weights(folder.best_checkpoint, self.model, epoch=epoch, run_info=self.run_info)
                elif cfg.keep_best:
                    self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                since_best += 1
            log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})
            if cfg.progress and self.is_main:
                tqdm.write(epoch_line(row, epochs, monitor), file=sys.stderr)
            if writer is not None:
                for k, v in row.items():
                    writer.add_scalar(k, v, epoch)
            if writes:
                save_checkpoint(last_path, self.model, optimizer, scheduler, epoch=epoch, history=history,
                                best_score=best_score, best_epoch=best_epoch, since_best=since_best,
                                run_info=self.run_info)
                self._write_metrics(history, monitor)
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
        if writer is not None:
            writer.close()
        if self.distributed:
            torch.distributed.barrier()  # rank 0's checkpoints are on disk before anyone reads them
        if cfg.keep_best and folder and best_epoch >= 0 and folder.best_checkpoint.exists():
            load_checkpoint(folder.best_checkpoint, self.model)
        elif cfg.keep_best and not folder and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        return FitResult(history, best_epoch, best_score, monitor, stopped, time.perf_counter() - t_start)

    def _train_epoch(self, train, optimizer, scheduler, epoch: int, sampler_factory, epochs: int,
                     total_steps: int) -> tuple[float, dict[str, float]]:
        """One epoch (or what is left of a ``steps`` budget): the mean loss and the mean of each loss part."""
        cfg = self.config
        self.model.train()
        # the RNG stream of each epoch depends on (seed, epoch, rank) only: resuming replays it exactly
        torch.manual_seed((cfg.seed * 1_000_003 + epoch) * 1009 + self.rank)
        sampler = sampler_factory(epoch) if sampler_factory else None
        if isinstance(train, StreamingGraphDataset):
            train.set_epoch(epoch)
            train.full_edges = full_edges_for(self.model)
            loader = train.loader()
        else:
            loader = self._loader(train, self.rank_batch_size(), shuffle=sampler is None, epoch=epoch,
                                  sampler=sampler)
        total, count = 0.0, 0
        part_sums: dict[str, float] = {}
        part_counts: dict[str, int] = {}
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not (cfg.progress and self.is_main), leave=False)
        for batch in bar:
            if cfg.steps is not None and scheduler.last_epoch >= total_steps:
                break  # the step budget ends inside this epoch
            batch = batch.to(self.device)
            output = self._train_module(batch)
            loss, parts = self.model.loss(output, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            n = int(batch.num_graphs)
            total += float(loss.detach()) * n
            count += n
            for k, v in parts.items():
                if isinstance(v, Tensor) and v.numel() == 1:
                    part_sums[k] = part_sums.get(k, 0.0) + float(v.detach()) * n
                    part_counts[k] = part_counts.get(k, 0) + n
            bar.set_postfix(loss=f"{total / count:.4f}")
        if self.distributed:  # the epoch's mean loss over every rank's samples
            sums = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(sums)
            total, count = float(sums[0]), int(sums[1])
        return total / max(count, 1), {k: part_sums[k] / part_counts[k] for k in part_sums}

    # ------------------------------------------------------------------------------------- evaluate

    @torch.no_grad()
    def predict_raw(self, dataset: GraphDataset, transform: BatchTransform | None = None
                    ) -> tuple[dict[str, Tensor], dict[str, Tensor | None], float]:
        """Raw head outputs and targets over a dataset (concatenated), and the mean loss."""
        self.model.eval()
        preds: dict[str, list[Tensor]] = {k: [] for k in self.heads}
        targets: dict[str, list[Tensor]] = {k: [] for k in self.heads}
        total, count = 0.0, 0
        for batch in self._loader(dataset, self.config.eval_batch_size, shuffle=False):
            batch = transform(batch) if transform else batch
            batch = batch.to(self.device)
            output = self.model(batch)
            loss, _ = self.model.loss(output, batch)
            total += float(loss) * int(batch.num_graphs)
            count += int(batch.num_graphs)
            for name, head in self.heads.items():
                preds[name].append(output.predictions[name].cpu())
                t = head.target(batch)
                if t is not None:
                    targets[name].append(t.cpu())
        return (
            {k: torch.cat(v) for k, v in preds.items()},
            {k: (torch.cat(v) if v else None) for k, v in targets.items()},
            total / max(count, 1),
        )

    def evaluate(self, dataset: GraphDataset, transform: BatchTransform | None = None) -> dict[str, float]:
        """Metrics ``{"task/metric": value}`` (plus ``loss``) over a dataset."""
        preds, targets, loss = self.predict_raw(dataset, transform)
        out = {"loss": loss}
        for name, head in self.heads.items():
            if targets[name] is None and head.needs_target:
                continue
            for metric, value in head.metrics(preds[name], targets[name]).items():
                out[f"{name}/{metric}"] = value
        return out

    def predict(self, dataset: GraphDataset, transform: BatchTransform | None = None) -> dict[str, Tensor]:
        """Decoded predictions per task (class ids, values in target units, cluster ids)."""
        preds, _, _ = self.predict_raw(dataset, transform)
        return {name: self.heads[name].decode(p) for name, p in preds.items()}

    # ---------------------------------------------------------------------------------------- files

    def _write_metrics(self, history: list[dict[str, float]], monitor: str | None) -> None:
        """Per-epoch metrics as JSON, CSV and ``curves.png`` (evaluation is replicated on every rank: rank 0
        writes)."""
        assert self.folder is not None
        RunFolder.write_json(self.folder.metrics_json, history)
        keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        write_atomic(self.folder.metrics_csv, buf.getvalue().encode())
        plot_curves(history, self.folder.curves_png, monitor, title=self.folder.path.name)

    def _tensorboard(self):
        if not (self.config.tensorboard and self.folder and self.is_main):
            return None
        import_extra("tensorboard", "tensorboard", "TensorBoard logging (--tensorboard)")
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.folder.tensorboard_dir))


def _check_stream(train: StreamingGraphDataset, cfg: TrainConfig, world_size: int, rank_batch: int) -> None:
    """A stream must batch and shuffle as the config says, over this run's ranks.

    A stream's ``batch_size`` is per rank: the global ``cfg.batch_size`` divided among the ranks.
    """
    for name, have, want in (("batch_size", train.batch_size, rank_batch), ("seed", train.seed, cfg.seed),
                             ("world_size", train.world_size, world_size)):
        if have != want:
            raise ValueError(f"the training stream's {name} ({have}) differs from the trainer's ({want}): "
                             f"build the StreamingGraphDataset with {name}={want}")
