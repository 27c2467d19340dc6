"""Benchmark suites: which dataset, tasks, models, seeds, training budget and robustness sweeps.

A suite is a TOML file::

    name = "quick"
    dataset = "digits"            # built-in name, manifest path or converted folder
    tasks = ["digit"]             # the first task is the headline
    seeds = [0, 1, 2]
    workers = 2                   # jobs run at once, each in its own process (capped at the CPU count)
    threads = 1                   # torch threads per job (default: the CPUs divided among the workers)
    imports = ["my_models.py"]    # optional: Python files (relative to the suite) or modules that
                                  # register models (MODELS.register), imported before any is built

    [graph]                       # GraphConfig overrides of the dataset's recommended config (with_overrides)
    hub = false
    [graph.image]                 # one table per modality, merged into its settings (so is [graph.edges])
    patch_size = 4

    [dataset_options]             # a built-in dataset loader's own arguments (AV-MNIST's shift tests)
    holdout_speakers = ["theo"]
    holdout_noise = ["human non-speech"]

    [tokenizer]                   # Tokenizer.fit arguments for the text vocabulary (default: every word)
    min_freq = 2

    [train]                       # TrainConfig fields
    epochs = 10
    lr = 3e-3

    [robustness]
    remove_modalities = true
    audio_snr_db = [20, 10, 0, -10]     # white noise added to the test audio at these SNRs
    image_noise_std = [0.0, 0.2, 0.4]   # Gaussian pixel noise on the test images
    image_contrast = [1.0, 0.5, 0.25]   # each colour channel pulled towards its mean by this factor
    image_hue_deg = [0, 90, 180]        # colours rotated about the grey axis (colour images)
    text_rare_other = [0, 1, 2, 4]      # k rare training words of another class appended to the test text
    text_drop = [0, 1, 2, 4]            # k words dropped
    text_unknown = [0, 1, 2, 4]         # k words replaced by made-up words

    [quick]                       # overrides applied by --quick
    seeds = [0]
    epochs = 2
    max_train = 2000

    [[models]]
    label = "graph model"
    name = "mmgnn"                # any ModelConfig field may follow
    [models.train]                # optional per-model TrainConfig overrides
    lr = 1e-3

A suite with ``kind = "ssl"`` is a self-supervised suite (``mmgraph.bench.ssl``); ``mmgraph bench``
runs either kind (``mmgraph.bench.run``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmgraph.config import check_fields
from mmgraph.files import load_toml
from mmgraph.models.config import ModelConfig
from mmgraph.train.trainer import TrainConfig

SUITES_DIR = Path(__file__).parent / "suites"
"""Suites shipped with mmgraph (``benchmarks/suites`` in the repository points here)."""

SUITE_KINDS = ("models", "ssl")
"""Values of a suite's ``kind``: ``models`` (the default: ``run_suite``) or ``ssl`` (``run_ssl_suite``)."""


@dataclass
class ModelEntry:
    """One model of a suite: a label for tables, its ``ModelConfig`` and training overrides."""

    label: str
    config: ModelConfig
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class Suite:
    """A parsed suite (see the module docstring for the file format)."""

    name: str
    dataset: str
    models: list[ModelEntry]
    tasks: list[str] | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    data_seed: int = 0
    root: str | None = None
    description: str = ""
    graph: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_eval: int | None = None
    imports: list[str] = field(default_factory=list)
    workers: int = 1
    threads: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"suite {self.name!r}: {name} must be a positive integer (got {value!r})")

    def train_config(self, entry: ModelEntry, seed: int) -> TrainConfig:
        merged = {**self.train, **entry.train, "seed": seed}
        check_fields(TrainConfig, merged, f"suite {self.name!r}: unknown train settings")
        try:
            return TrainConfig.from_dict(merged)
        except TypeError as exc:
            raise type(exc)(f"suite {self.name!r}, model {entry.label!r}: {exc}") from None

    def model_config(self, entry: ModelEntry) -> ModelConfig:
        """The entry's config with the suite's tasks (unless the entry names its own)."""
        if entry.config.tasks is None and self.tasks is not None:
            return entry.config.replace(tasks=list(self.tasks))
        return entry.config

    def apply_quick(self) -> Suite:
        """A copy with the ``[quick]`` overrides applied (fewer seeds, epochs, samples)."""
        q = dict(self.quick)
        out = dataclasses.replace(self, train=dict(self.train), robustness=dict(self.robustness))
        if "seeds" in q:
            out.seeds = list(q.pop("seeds"))
        for key in ("max_train", "max_eval"):
            if key in q:
                setattr(out, key, q.pop(key))
        for key in ("audio_snr_db", "image_noise_std", "remove_modalities"):
            if key in q:
                out.robustness[key] = q.pop(key)
        out.train.update(q)
        return out

    def labels(self) -> list[str]:
        return [m.label for m in self.models]


def _parse_models(raw: list[dict[str, Any]], suite: str) -> list[ModelEntry]:
    entries = []
    for i, item in enumerate(raw):
        item = dict(item)
        train = item.pop("train", {})
        label = item.pop("label", None) or item.get("name", f"model{i}")
        try:
            config = ModelConfig.from_dict(item)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"suite {suite!r}, model {label!r}: {exc}") from None
        entries.append(ModelEntry(label, config, train))
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise ValueError(f"suite {suite!r}: model labels must be unique (got {labels})")
    return entries


def parse_suite(data: dict[str, Any], source: str | None = None) -> Suite:
    """Build a ``Suite`` from parsed TOML."""
    data = dict(data)
    name = data.pop("name", None) or (Path(source).stem if source else "suite")
    kind = data.pop("kind", "models")
    if kind == "ssl":
        raise ValueError(f"suite {name!r} is a self-supervised suite (kind = 'ssl'): load it with "
                         f"mmgraph.bench.load_ssl_suite; 'mmgraph bench --suite {name}' runs it")
    if kind != "models":
        raise ValueError(f"suite {name!r}: unknown kind {kind!r} (valid: {', '.join(SUITE_KINDS)})")
    if "dataset" not in data:
        raise ValueError(f"suite {name!r}: missing 'dataset'")
    if not data.get("models"):
        raise ValueError(f"suite {name!r}: needs at least one [[models]] entry")
    models = _parse_models(data.pop("models"), name)
    seeds = data.pop("seeds", [0])
    if isinstance(seeds, int):
        seeds = list(range(seeds))
    fields = {f.name for f in dataclasses.fields(Suite)} - {"name", "models", "seeds", "source"}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"suite {name!r}: unknown keys {unknown}; valid: {sorted(fields)}")
    imports = data.pop("imports", [])
    if isinstance(imports, str) or not all(isinstance(i, str) for i in imports):
        raise ValueError(f"suite {name!r}: 'imports' must be a list of Python files or module names (got {imports!r})")
    base = Path(source).parent if source else Path.cwd()
    imports = [str((base / i).resolve()) if i.endswith(".py") else i for i in imports]
    return Suite(name=name, models=models, seeds=list(seeds), source=source, imports=imports, **data)


def import_plugins(imports: list[str]) -> None:
    """Import a suite's ``imports`` (Python files by path, or modules by name), once per process: what they
    register (``MODELS.register``, encoders, heads) is then buildable by name, in the runner's jobs too."""
    for item in imports:
        if not item.endswith(".py"):
            importlib.import_module(item)
            continue
        path = Path(item)
        name = f"mmgraph_suite_plugin_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}_{path.stem}"
        if name in sys.modules:
            continue
        if not path.is_file():
            raise ValueError(f"suite import {item!r}: no such file")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise


def suite_path(name_or_path: str) -> Path:
    """The TOML file of a suite given by name (``mmgraph/bench/suites/NAME.toml``) or by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ValueError(f"suite file not found: {path}")
        return path
    candidate = SUITES_DIR / f"{name_or_path}.toml"
    if not candidate.exists():
        raise ValueError(f"unknown suite {name_or_path!r}; built-in suites: {', '.join(list_suites())}")
    return candidate


def suite_kind(name_or_path: str) -> str:
    """A suite's ``kind`` (``SUITE_KINDS``): which runner runs it."""
    path = suite_path(name_or_path)
    kind = load_toml(path).get("kind", "models")
    if kind not in SUITE_KINDS:
        raise ValueError(f"suite {str(path)!r}: unknown kind {kind!r} (valid: {', '.join(SUITE_KINDS)})")
    return kind


def recorded_source(source: str | None) -> str | None:
    """A suite's file as results record it: a built-in one as ``mmgraph/bench/suites/NAME.toml``, not this
    machine's install path."""
    if source is not None and Path(source).resolve().parent == SUITES_DIR.resolve():
        return f"mmgraph/bench/suites/{Path(source).name}"
    return source


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (``mmgraph/bench/suites/NAME.toml``) or by TOML path."""
    path = suite_path(name_or_path)
    return parse_suite(load_toml(path), str(path))


def list_suites() -> list[str]:
    """Names of the suites shipped with mmgraph."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
