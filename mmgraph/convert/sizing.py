"""``preflight`` (sizing a source before converting it): what its graphs will cost, measured on a sample of its records.

``mmgraph convert --preflight SOURCE`` reads a seeded random sample of the records (64 by default),
decodes and featurizes them with the graph config the conversion would use, and reports per sample the
nodes and memory of each modality, the edges, the total (median and max), the memory of a batch, the
inputs it saw (image sizes and colour, audio rates and lengths, text lengths) and the settings it
suggests. Memory is the graph's own data: node features, positions and every edge list, as
``build_graph`` or a list-mode batch holds them; a model's activations come on top and grow with the
same edge counts.
"""

from __future__ import annotations

import math
import os
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mmgraph.convert.sources import DatasetRecord, GraphChoice, open_source
from mmgraph.datasets.base import MultimodalDataset
from mmgraph.datasets.manifest import ManifestRecord, Rejection
from mmgraph.featurize import FEATURIZERS
from mmgraph.graph.budget import GraphSize, graph_size, over_budget
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS
from mmgraph.sample import MultimodalSample
from mmgraph.typing import HUB

DEFAULT_PREFLIGHT_SAMPLES = 64
DEFAULT_PREFLIGHT_BATCH = 32


@dataclass
class PreflightReport:
    """What ``preflight`` measured.

    Attributes:
        source: the source as given.
        records: records in the source (rejected ones included).
        read: records of the sample read and decoded.
        rejected: the sampled records refused, with their reasons.
        config: the graph config the conversion would use.
        batch_size: the batch size whose memory is estimated.
        ids: the valid sampled records' ids, in record order.
        sizes: their graphs' sizes (``GraphSize``), in the same order.
        inputs: what the inputs were: ``image_hw`` (height, width), ``image_colour`` (bools),
            ``audio_rates``, ``audio_seconds``, ``text_tokens`` (before the cap), one entry per
            valid sample that has the modality.
        suggestions: TOML lines (``[graph.audio]`` headers and ``name = value``) to pass with ``--graph``.
        notes: why each suggestion, and facts worth knowing (images scaled, texts cut).
    """

    source: str
    records: int
    read: int
    rejected: list[Rejection]
    config: GraphConfig
    batch_size: int
    ids: list[str | None] = field(default_factory=list)
    sizes: list[GraphSize] = field(default_factory=list)
    inputs: dict[str, list[Any]] = field(default_factory=dict)
    suggestions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def over_budget(self) -> list[str | None]:
        """Ids of the sampled records whose graph exceeds the config's budget."""
        return [i for i, s in zip(self.ids, self.sizes) if over_budget(s, self.config)]

    def stat(self, values: list[int | float]) -> tuple[float, float]:
        """``(median, max)`` of ``values`` (``(0, 0)`` when empty)."""
        return (statistics.median(values), max(values)) if values else (0.0, 0.0)

    def rows(self) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
        """``(what, (median, max) count, (median, max) bytes)`` per modality, edge lists and in total."""
        out = []
        for m in self.config.modalities:
            out.append((f"{m} nodes", self.stat([s.nodes[m] for s in self.sizes]),
                        self.stat([s.feature_bytes[m] for s in self.sizes])))
        if self.config.hub:
            out.append((f"{HUB} nodes", (1.0, 1.0), (8.0, 8.0)))
        out.append(("edges", self.stat([s.num_edges for s in self.sizes]),
                    self.stat([s.edge_bytes for s in self.sizes])))
        out.append(("total", self.stat([s.num_nodes for s in self.sizes]),
                    self.stat([s.total_bytes for s in self.sizes])))
        return out

    def batch_bytes(self) -> tuple[float, float]:
        """Memory of a batch of ``batch_size`` median samples and of ``batch_size`` largest ones."""
        median, largest = self.stat([s.total_bytes for s in self.sizes])
        return self.batch_size * median, self.batch_size * largest

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: counts, the table, the batch memory, inputs and suggestions."""
        return {
            "source": self.source, "records": self.records, "read": self.read, "valid": len(self.sizes),
            "rejected": [r.to_dict() for r in self.rejected], "batch_size": self.batch_size,
            "per_sample": {what: {"median": n[0], "max": n[1], "bytes_median": b[0], "bytes_max": b[1]}
                           for what, n, b in self.rows()},
            "batch_bytes": dict(zip(("median", "max"), self.batch_bytes())),
            "over_budget": self.over_budget, "budget": {"max_nodes": self.config.max_nodes,
                                                        "max_edges": self.config.max_edges},
            "inputs": self.inputs, "suggestions": self.suggestions, "notes": self.notes,
        }

    def summary(self) -> str:
        """The report as the CLI prints it."""
        valid = len(self.sizes)
        lines = [f"preflight of {self.source}: {self.read} of {self.records:,} records read (a seeded random "
                 f"sample), {valid} valid, {len(self.rejected)} rejected"
                 + (f" (first: {self.rejected[0]})" if self.rejected else "")]
        lines.append(f"graph config: {describe_config(self.config)}")
        lines.extend(f"inputs: {line}" for line in describe_inputs(self.inputs))
        if not valid:
            lines.append("no valid record in the sample: nothing to measure")
            return "\n".join(lines)
        lines.append("")
        lines.append(f"{'per sample':<14}{'median':>12}{'max':>12}{'memory median':>16}{'memory max':>14}")
        for what, (n_med, n_max), (b_med, b_max) in self.rows():
            lines.append(f"  {what:<12}{n_med:>12,.0f}{n_max:>12,.0f}{_mb(b_med):>16}{_mb(b_max):>14}")
        med, big = self.batch_bytes()
        lines.append(f"batch of {self.batch_size}: {_mb(med)} (median samples), {_mb(big)} (largest); graph data "
                     f"only: node features, positions and edge lists (model activations come on top)")
        over = self.over_budget
        lines.append(f"over the budget (max_nodes={self.config.max_nodes}, max_edges={self.config.max_edges}): "
                     f"{len(over)} of {valid}" + (f" (first: {over[0]!r})" if over else ""))
        lines.append("")
        if self.suggestions:
            lines.append("suggested settings (save as a TOML file and pass --graph FILE):")
            lines.extend(f"  {line}" for line in self.suggestions)
        else:
            lines.append("suggested settings: none; the settings fit these records")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def describe_config(config: GraphConfig) -> str:
    """One line: the settings that decide graph sizes."""
    parts = []
    for m in config.modalities:
        settings = config.settings[m]
        if m == "image":
            grid = "uncapped" if settings.max_grid is None else f"<= {settings.max_grid}x{settings.max_grid}"
            parts.append(f"image {settings.patch_size}x{settings.patch_size} "
                         f"{'RGB' if settings.channels == 3 else 'grey'} patches, grid {grid}")
        elif m == "audio":
            frames = "every frame" if settings.max_frames is None else f"<= {settings.max_frames} frames"
            parts.append(f"audio {settings.sample_rate} Hz, hop {settings.hop_length}, {frames}")
        elif m == "text":
            parts.append(f"text <= {settings.max_tokens} tokens")
        else:
            parts.append(m)
    budget = f"budget {config.max_nodes} nodes / {config.max_edges} edges per sample"
    return "; ".join([*parts, budget])


def describe_inputs(inputs: dict[str, list[Any]]) -> list[str]:
    """Lines on the inputs seen: image sizes and colour, audio rates and lengths, text lengths."""
    lines = []
    if inputs.get("image_hw"):
        hw = inputs["image_hw"]
        areas = sorted(hw, key=lambda s: s[0] * s[1])
        med, big = areas[len(areas) // 2], areas[-1]
        colour = sum(inputs["image_colour"])
        lines.append(f"{len(hw)} images, {med[0]}x{med[1]} median, {big[0]}x{big[1]} largest; "
                     f"{colour} colour, {len(hw) - colour} grey")
    if inputs.get("audio_rates"):
        rates = Counter(inputs["audio_rates"])
        seconds = inputs["audio_seconds"]
        shown = ", ".join(f"{r} Hz ({n})" for r, n in sorted(rates.items()))
        lines.append(f"{len(seconds)} audio clips at {shown}; {statistics.median(seconds):.1f} s median, "
                     f"{max(seconds):.1f} s longest")
    if inputs.get("text_tokens"):
        tokens = inputs["text_tokens"]
        lines.append(f"{len(tokens)} texts, {statistics.median(tokens):.0f} tokens median, {max(tokens)} longest")
    return lines


def _inputs(samples: list[MultimodalSample], config: GraphConfig) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"image_hw": [], "image_colour": [], "audio_rates": [], "audio_seconds": [],
                                 "text_tokens": []}
    tokenizer = config.settings["text"].tokenizer if "text" in config.modalities else None
    for s in samples:
        if s.image is not None:
            out["image_hw"].append([int(s.image.shape[0]), int(s.image.shape[1])])
            out["image_colour"].append(bool(s.image.ndim == 3 and s.image.shape[2] >= 3))
        if s.audio is not None:
            out["audio_rates"].append(int(s.audio.sample_rate))
            out["audio_seconds"].append(round(float(s.audio.duration), 3))
        if s.text is not None and tokenizer is not None:
            out["text_tokens"].append(len(tokenizer.split(s.text)))
    return {k: v for k, v in out.items() if v}


def suggest(report: PreflightReport) -> None:
    """Fill ``report.suggestions`` and ``report.notes`` from its measurements.

    - Over budget: the largest sample's modalities are capped at one node count, the largest that
      fits the budget (``fitting_cap``), through their size settings (``max_grid``, ``max_frames``,
      ``max_tokens``).
    - Colour images under ``channels = 1``: ``channels = 3``.
    - Every clip below the target rate: that rate, with the windows scaled to keep their length in ms.
    - Notes: images scaled down by ``max_grid``, texts cut by ``max_tokens``.
    """
    config, inputs = report.config, report.inputs
    tables: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    largest = max(report.sizes, key=lambda s: (s.num_nodes, s.num_edges), default=None)
    if largest is not None and over_budget(largest, config):
        cap = fitting_cap(largest, config)
        for m in config.modalities:
            setting = _shrink_setting(m, min(largest.nodes[m], cap), config)
            if setting is not None:
                tables.setdefault(m, {}).update(setting)
        notes.append(f"the largest sampled graph has {largest.num_nodes:,} nodes and {largest.num_edges:,} edges, "
                     f"over the budget; the settings above cap every modality at about {cap:,} nodes (rerun "
                     f"--preflight with them to check)")
    if "image" in config.modalities and inputs.get("image_colour"):
        colour = sum(inputs["image_colour"])
        if colour and config.settings["image"].channels == 1:
            tables.setdefault("image", {})["channels"] = 3
            notes.append(f"{colour} of {len(inputs['image_colour'])} images are in colour, which channels = 1 "
                         f"turns grey")
        capped = FEATURIZERS.get("image").from_settings(config.settings["image"])
        scaled = [hw for hw in inputs["image_hw"] if capped.capped_size(*hw) != tuple(hw)]
        if scaled:
            h, w = scaled[len(scaled) // 2]
            notes.append(f"{len(scaled)} of {len(inputs['image_hw'])} images are scaled down by max_grid="
                         f"{capped.max_grid} (e.g. {h}x{w} -> {'x'.join(map(str, capped.capped_size(h, w)))})")
    if "audio" in config.modalities and inputs.get("audio_rates"):
        audio = config.settings["audio"]
        top = max(inputs["audio_rates"])
        if top < audio.sample_rate:
            scale = top / audio.sample_rate
            win, hop = max(1, round(audio.win_length * scale)), max(1, round(audio.hop_length * scale))
            tables.setdefault("audio", {}).update(
                sample_rate=top, n_fft=max(2 ** math.ceil(math.log2(win)), 2), win_length=win, hop_length=hop)
            notes.append(f"every clip is at {top} Hz or less: featurizing at {audio.sample_rate} Hz would upsample "
                         f"them (no new content, more frames)")
    if "text" in config.modalities and inputs.get("text_tokens"):
        cap = config.settings["text"].max_tokens
        cut = [n for n in inputs["text_tokens"] if n > cap]
        if cut:
            notes.append(f"{len(cut)} of {len(inputs['text_tokens'])} texts are cut at max_tokens={cap} "
                         f"(longest {max(cut)} tokens)")
    report.suggestions = [line for m, table in sorted(tables.items())
                          for line in [f"[graph.{m}]", *(f"{k} = {v}" for k, v in table.items())]]
    report.notes = notes


def fitting_cap(size: GraphSize, config: GraphConfig, margin: float = 0.95) -> int:
    """The largest per-modality node count ``c`` whose graph fits ``margin`` of the budget.

    Water-filling: every modality keeps ``min(n, c)`` nodes, so small ones (a caption) stay whole and
    the large ones shrink first. Edges are estimated from ``size`` by the node ratios: complete
    blocks scale with the product of both ends' ratios, other strategies with the larger ratio.
    """
    def ratio(node_type: str, c: int) -> float:
        n = size.nodes[node_type]
        return 1.0 if n == 0 or node_type == HUB else min(n, c) / n

    def fits(c: int) -> bool:
        nodes = sum(n if t == HUB else min(n, c) for t, n in size.nodes.items())
        edges = 0.0
        for spec in config.edge_specs:
            src, _, dst = spec.edge_type
            r_src, r_dst = ratio(src, c), ratio(dst, c)
            edges += size.edges[spec.edge_type] * (r_src * r_dst if spec.strategy.is_dense else max(r_src, r_dst))
        return ((config.max_nodes is None or nodes <= margin * config.max_nodes)
                and (config.max_edges is None or edges <= margin * config.max_edges))

    lo, hi = 1, max([n for t, n in size.nodes.items() if t != HUB], default=1)
    while lo < hi:  # the largest c that fits (c = 1 when none does)
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def _shrink_setting(modality: str, nodes: float, config: GraphConfig) -> dict[str, int] | None:
    """The size setting that gives ``modality`` at most ``nodes`` nodes, or ``None`` when it has none or fits."""
    settings = config.settings[modality]
    target = max(1, int(nodes))
    if modality == "image":
        grid = max(1, math.isqrt(target))
        return {"max_grid": grid} if settings.max_grid is None or grid < settings.max_grid else None
    for name in FEATURIZERS.get(modality).size_settings:  # max_frames, max_tokens, a user's own
        current = getattr(settings, name, None)
        if current is None or (isinstance(current, int) and target < current):
            return {name: target}
    return None


def preflight(
    source: str | os.PathLike | MultimodalDataset,
    *,
    graph_config: GraphChoice = None,
    samples: int = DEFAULT_PREFLIGHT_SAMPLES,
    batch_size: int = DEFAULT_PREFLIGHT_BATCH,
    seed: int = 0,
    root: str | None = None,
    data_seed: int = 0,
    allow_outside: bool = False,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> PreflightReport:
    """Measure the graphs of a seeded random sample of ``source``'s records; write nothing.

    Args:
        source: a manifest path, a built-in dataset name or a ``MultimodalDataset`` (as for ``convert``).
        graph_config: the config to measure, or overrides of the default (as for ``convert``; default:
            the one ``convert`` would use).
        samples: records to read (all when the source has fewer).
        batch_size: the batch size whose memory the report estimates.
        seed: seed of the record sample.
        root, data_seed: a built-in dataset's raw-data folder and seed.
        allow_outside, max_image_pixels: as for ``convert``.

    Returns:
        A ``PreflightReport``; ``summary()`` is what ``mmgraph convert --preflight`` prints.
    """
    for name, value in (("samples", samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"'{name}' must be a positive int (got {value!r})")
    src = open_source(source, graph_config, root=root, seed=data_seed, allow_outside=allow_outside,
                      max_image_pixels=max_image_pixels)
    chosen = set(random.Random(seed).sample(range(src.num_records), min(samples, src.num_records)))
    loaded: list[tuple[int, int | None, MultimodalSample]] = []  # (record, line, sample)
    rejected: list[Rejection] = []
    for index, item in enumerate(src.items()):
        if index not in chosen:
            continue
        if isinstance(item, DatasetRecord):
            loaded.append((index, None, item.sample))
            continue
        assert isinstance(item, ManifestRecord)
        result = item.load(max_image_pixels=max_image_pixels)
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            loaded.append((index, item.line, result))
    config = src.config
    # the report judges the budget itself: no warning per sample here
    featurizer = Featurizer(config.replace(max_nodes=None, max_edges=None))
    featurized, kept = [], []
    for record, line, sample in loaded:  # one at a time: a sample that fails is a rejection, as in convert
        try:
            featurized.extend(featurizer.batch([sample]))
            kept.append(sample)
        except (ValueError, TypeError, RuntimeError) as exc:
            rejected.append(Rejection(record, line, sample.id, str(exc)))
    rejected.sort(key=lambda r: r.record)
    report = PreflightReport(
        source=str(source.name if isinstance(source, MultimodalDataset) else source), records=src.num_records,
        read=len(chosen), rejected=rejected, config=config, batch_size=batch_size,
        ids=[fs.id for fs in featurized], sizes=[graph_size(fs, config) for fs in featurized],
        inputs=_inputs(kept, config),
    )
    suggest(report)
    return report


__all__ = ["DEFAULT_PREFLIGHT_BATCH", "DEFAULT_PREFLIGHT_SAMPLES", "PreflightReport", "describe_config", "fitting_cap",
           "preflight", "suggest"]
