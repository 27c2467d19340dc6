"""Pictures of explanations: image heatmap, highlighted tokens, spectrogram with frame importance,
modality bar and the graph, for one sample (matplotlib's Agg canvas; no display needed)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.explain.attribution import Explanation
from mmgraph.featurize import encoder_input
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.plot import draw_graph

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CMAP = "inferno"
HIGHLIGHT_CMAP = "YlOrRd"


def image_from_patches(x: Tensor, pos: Tensor, patch_size: int, channels: int) -> np.ndarray:
    """The image ``(rows * P, cols * P, C)`` put back together from its patch nodes (``x``, grid ``pos``)."""
    p = patch_size
    pos = pos.long()
    rows, cols = int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1
    grid = np.zeros((rows, cols, p, p, channels), dtype=np.float32)
    grid[pos[:, 0].numpy(), pos[:, 1].numpy()] = x.float().reshape(-1, p, p, channels).numpy()
    return grid.transpose(0, 2, 1, 3, 4).reshape(rows * p, cols * p, channels)  # (H, W, C)


def patch_heatmap(importance: Tensor, pos: Tensor, patch_size: int) -> np.ndarray:
    """Per-pixel map ``(rows * P, cols * P)`` of patch importances."""
    pos = pos.long()
    rows, cols = int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1
    grid = np.zeros((rows, cols), dtype=np.float32)
    grid[pos[:, 0].numpy(), pos[:, 1].numpy()] = importance.float().numpy()
    return np.kron(grid, np.ones((patch_size, patch_size), dtype=np.float32))


def _relative(values: Tensor) -> np.ndarray:
    """Values scaled to [0, 1] by their maximum (all zeros stay zeros)."""
    v = values.float().numpy()
    top = v.max() if v.size else 0.0
    return v / top if top > 0 else v


def plot_explanation(explanation: Explanation, graph: HeteroData, config: GraphConfig,
                     path: str | os.PathLike | None = None) -> Figure:
    """One sample's explanation as a figure (written to ``path`` as PNG when given).

    Panels, for the modalities present: the image with a patch-importance heatmap, the tokens
    highlighted by importance, the log-mel spectrogram with frame importance under it; always the
    modality importance bar and the graph (node colour = importance). Within a modality's panel
    colours are relative to that modality's most important node; in the graph, to the sample's.

    Args:
        explanation: from ``explain``.
        graph: the sample's own graph (a batch of one: ``collate([sample], config)`` or
            ``GraphDataset.collate_indices([i])``).
        config: the graph config the sample was featurized with (patch size, channels, tokenizer).
        path: PNG to write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    for m, values in explanation.node_importance.items():
        n = graph[m].num_nodes if m in graph.node_types else 0
        if values.shape[0] != n:
            raise ValueError(f"the explanation has {values.shape[0]} {m} nodes, the graph {n}: not this sample's graph")
    present = list(explanation.node_importance)
    has_image, has_text, has_audio = "image" in present, "text" in present, "audio" in present
    heights = [3.0] + ([0.9] if has_text else []) + ([2.0, 0.9] if has_audio else [])
    fig = Figure(figsize=(13, sum(heights) + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(heights), 3, height_ratios=heights)
    top_axes = [fig.add_subplot(grid[0, i]) for i in range(3)]
    label = "" if explanation.label is None else f", label {explanation.label}"
    fig.suptitle(f"{explanation.id or 'sample'} — {explanation.task}: class {explanation.predicted_class} "
                 f"(p={explanation.probability:.2f}){label}; explained class {explanation.target}, "
                 f"method: {explanation.method}")
    shares = explanation.modality_importance
    if has_image:
        _draw_image(top_axes[0], explanation, graph, config)
    else:
        top_axes[0].set_axis_off()
    _draw_modality_bar(top_axes[1], shares)
    _draw_graph(top_axes[2], explanation, graph)
    row = 1
    if has_text:
        _draw_tokens(fig.add_subplot(grid[row, :]), explanation, graph, config, fig)
        row += 1
    if has_audio:
        spec_ax = fig.add_subplot(grid[row, :])
        _draw_audio(spec_ax, fig.add_subplot(grid[row + 1, :], sharex=spec_ax), explanation, graph)
    if path is not None:
        fig.savefig(os.fspath(path), dpi=100)
    return fig


def _draw_image(ax: Axes, explanation: Explanation, graph: HeteroData, config: GraphConfig) -> None:
    store, settings = graph["image"], config.settings["image"]
    image = image_from_patches(store.x, store.pos, settings.patch_size, settings.channels)
    heat = patch_heatmap(explanation.node_importance["image"], store.pos, settings.patch_size)
    ax.imshow(image[:, :, 0] if image.shape[2] == 1 else image.clip(0, 1), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    top = heat.max()
    ax.imshow(heat / top if top > 0 else heat, cmap=CMAP, alpha=0.5, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"image: {explanation.modality_importance['image']:.0%} of importance")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_modality_bar(ax: Axes, shares: dict[str, float]) -> None:
    names = list(shares)
    ax.barh(names, [shares[m] for m in names], color="tab:orange")
    for i, m in enumerate(names):
        ax.text(shares[m] + 0.01, i, f"{shares[m]:.2f}", va="center")
    ax.set_xlim(0, 1.12)
    ax.invert_yaxis()
    ax.set_title("modality importance")


def _draw_tokens(ax: Axes, explanation: Explanation, graph: HeteroData, config: GraphConfig, fig: Figure) -> None:
    from matplotlib import colormaps

    ids = encoder_input(graph["text"]).tolist()
    tokenizer = config.settings["text"].tokenizer
    tokens = tokenizer.decode(ids) if tokenizer is not None else [str(i) for i in ids]
    weights = _relative(explanation.node_importance["text"])
    cmap = colormaps[HIGHLIGHT_CMAP]
    renderer = fig.canvas.get_renderer()
    ax.set_axis_off()
    ax.set_title(f"text: {explanation.modality_importance['text']:.0%} of importance", loc="left")
    x, y, line = 0.0, 0.85, 0.4
    for token, w in zip(tokens, weights):
        text = ax.text(x, y, token, transform=ax.transAxes, va="top", fontsize=11,
                       bbox={"boxstyle": "round,pad=0.25", "facecolor": cmap(0.85 * float(w)), "edgecolor": "none"})
        box = text.get_window_extent(renderer).transformed(ax.transAxes.inverted())
        if box.x1 > 1.0 and x > 0.0:  # wrap
            x, y = 0.0, y - line
            text.set_position((x, y))
            box = text.get_window_extent(renderer).transformed(ax.transAxes.inverted())
        x = box.x1 + 0.01


def _draw_audio(spec_ax: Axes, frame_ax: Axes, explanation: Explanation, graph: HeteroData) -> None:
    store = graph["audio"]
    mel = store.x.float().numpy()  # (frames, n_mels)
    times = store.pos[:, 0].float().numpy()
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.01
    extent = (times[0] - step / 2, times[-1] + step / 2, 0, mel.shape[1])
    spec_ax.imshow(mel.T, origin="lower", aspect="auto", extent=extent, cmap="magma", interpolation="nearest")
    spec_ax.set_ylabel("mel band")
    spec_ax.set_title(f"audio: {explanation.modality_importance['audio']:.0%} of importance (log-mel)", loc="left")
    spec_ax.tick_params(labelbottom=False)
    values = explanation.node_importance["audio"].float().numpy()
    frame_ax.bar(times, values, width=step, color="tab:orange")
    frame_ax.set_xlim(extent[0], extent[1])
    frame_ax.set_xlabel("time (s)")
    frame_ax.set_ylabel("frame\nimportance")


def _draw_graph(ax: Axes, explanation: Explanation, graph: HeteroData) -> None:
    drawn = draw_graph(ax, graph, explanation.node_importance, cmap=CMAP)
    ax.figure.colorbar(drawn, ax=ax, shrink=0.7, label="importance / max")
    ax.set_title("graph (nodes coloured by importance)")
