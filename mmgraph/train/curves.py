"""A run's learning curves as a picture (``curves.png``) and as one line of text per epoch."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from mmgraph.files import write_atomic


def epoch_line(row: Mapping[str, float], epochs: int, monitor: str | None) -> str:
    """One epoch in a line: ``epoch 3/10: train loss 0.4123, val digit/accuracy 0.8312, 2.1 s``."""
    parts = [f"train loss {row['train_loss']:.4f}"]
    if monitor and f"val/{monitor}" in row:
        parts.append(f"val {monitor} {row[f'val/{monitor}']:.4f}")
    elif "val/loss" in row:
        parts.append(f"val loss {row['val/loss']:.4f}")
    parts.append(f"{row['epoch_seconds']:.1f} s")
    return f"epoch {int(row['epoch']) + 1}/{epochs}: " + ", ".join(parts)


def _finite(rows: Sequence[Mapping[str, float]], key: str) -> tuple[list[float], list[float]]:
    points = [(row["epoch"] + 1, row[key]) for row in rows
              if isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
    return [p[0] for p in points], [p[1] for p in points]


def plot_curves(history: Sequence[Mapping[str, float]], path: str | Path, monitor: str | None = None,
                title: str | None = None) -> Path:
    """Write the loss curves (train, val) and the monitored validation metric per epoch as a PNG.

    Args:
        history: the per-epoch rows of ``Trainer.fit`` (``epoch``, ``train_loss``, ``val/...``).
        path: the PNG to write (atomically).
        monitor: the ``task/metric`` model selection reads (its curve is the right-hand panel).
        title: the figure title.
    """
    # a Figure without pyplot: no global backend switch in the user's process (notebooks keep theirs)
    from matplotlib.figure import Figure

    metric = monitor if monitor and monitor != "loss" and any(f"val/{monitor}" in r for r in history) else None
    fig = Figure(figsize=(9.6 if metric else 5.2, 3.6))
    axes = fig.subplots(1, 2 if metric else 1, squeeze=False)
    ax = axes[0][0]
    for key, label in (("train_loss", "train"), ("val/loss", "val")):
        x, y = _finite(history, key)
        if x:
            ax.plot(x, y, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if metric:
        ax = axes[0][1]
        x, y = _finite(history, f"val/{metric}")
        ax.plot(x, y, marker="o", markersize=3, color="tab:green")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"val {metric}")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_atomic(path, buf.getvalue())
    return Path(path)


__all__ = ["epoch_line", "plot_curves"]
