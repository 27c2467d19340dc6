"""The ``mmgraph`` command: thin wrappers that parse, call one library function, and print.

Each command imports its library code inside its handler, so ``mmgraph --help``, ``--version`` and
``mmgraph COMMAND --help`` answer without loading torch. Errors follow ``mmgraph.errors``: a user
error is one line (exit status 2), a bug says so in one line (exit status 3) and ``--debug`` shows
its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from mmgraph import __version__
from mmgraph.errors import USER_ERRORS, missing_extra
from mmgraph.files import DiskFullError

EXIT_USER_ERROR = 2
"""Exit status of a user error (also argparse's, for a bad flag)."""
EXIT_BUG = 3
"""Exit status of an internal error: a bug, shown as such."""


class UserError(ValueError):
    """A problem with the command line itself (a flag's value, a missing argument): one line, no traceback."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming ``--help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _overrides(args: argparse.Namespace, *names: str) -> dict:
    """The ``TrainConfig`` settings given on the command line (flags left out are not set)."""
    out = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if getattr(args, "no_progress", False):
        out["progress"] = False
    if getattr(args, "tensorboard", False):
        out["tensorboard"] = True
    return out


# ---------------------------------------------------------------------------------------- handlers


GRAPH_HELP = ("TOML file of graph settings ([graph] with [graph.image], [graph.audio], [graph.text], [graph.edges], "
              "max_nodes, max_edges) applied over the dataset's recommended config; only the keys given change")


def _graph_overrides(path: str | None) -> dict | None:
    """The ``--graph FILE.toml`` overrides (checked now, naming the file), or ``None``."""
    if not path:
        return None
    from mmgraph.graph.config import read_graph_overrides

    return read_graph_overrides(path)


def _cmd_info(args: argparse.Namespace) -> int:
    from mmgraph.info import dataset_report

    print(dataset_report(args.dataset, root=args.root, seed=args.seed, progress=not args.no_progress))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from mmgraph.train.runs import train_run

    if args.finetune is not None and args.init is None:
        raise UserError("--finetune needs --init RUN (the pretrained run to fine-tune)")
    overrides = _overrides(args, "epochs", "steps", "seed", "lr", "batch_size", "patience", "device")
    metrics = train_run(args.data, args.model, args.out, overrides=overrides, root=args.root, resume=args.resume,
                        init=args.init, finetune=args.finetune, graph=_graph_overrides(args.graph),
                        allow_outside=args.allow_outside, stream=args.stream,
                        buffer_size=args.buffer_size)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
    print(json.dumps({k: metrics[k] for k in ("best_epoch", "monitor", "best_val") if k in metrics}))
    for split in ("val", "test"):
        if split in metrics:
            shown = {k: round(v, 4) for k, v in metrics[split].items()}
            print(f"{split}: {shown}")
    print(f"run folder: {args.out} (curves.png, metrics.csv, checkpoints/)")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import json

    from mmgraph.train.pretrain import PretrainConfig, pretrain_run

    if args.mask_ratio is not None and not 0.0 < args.mask_ratio <= 1.0:
        raise UserError(f"--mask-ratio must be in (0, 1] (got {args.mask_ratio})")
    augment = None if args.augment is None else [a for a in args.augment.split(",") if a and a != "none"]
    given = {k: v for k, v in {"objective": args.objective, "mask_ratio": args.mask_ratio, "augment": augment,
                               "joint_weight": args.joint_weight,
                               "chance_guard": False if args.no_chance_guard else None}.items() if v is not None}
    pretrain_config = PretrainConfig(**given) if given else None
    overrides = _overrides(args, "epochs", "steps", "seed", "lr", "batch_size", "device")
    summary = pretrain_run(args.data, args.out, model=args.model, overrides=overrides, root=args.root,
                           resume=args.resume, pretrain_config=pretrain_config)
    print(json.dumps(summary))
    print(f"run folder: {args.out} (fine-tune with: mmgraph train --init {args.out} ...)")
    return 0


def recorded_command(argv: Sequence[str]) -> str:
    """The command line as results record it: the raw-data folder written ``DATA``, not this machine's path."""
    shown, hide = [], False
    for arg in argv:
        shown.append("DATA" if hide else "--root=DATA" if arg.startswith("--root=") else arg)
        hide = arg == "--root"
    return "mmgraph " + " ".join(shown)


def _cmd_bench(args: argparse.Namespace) -> int:
    from mmgraph.bench import describe_suites, run_benchmark

    if args.list:
        print(describe_suites())
        return 0
    run = run_benchmark(args.suite, args.out, quick=args.quick,
                        seeds=list(range(args.seeds)) if args.seeds is not None else None, root=args.root,
                        threads=args.threads, workers=args.workers, progress=not args.no_progress,
                        command=recorded_command(sys.argv[1:]), graph=_graph_overrides(args.graph))
    print(run.summary())
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from mmgraph.convert import convert, merge, parse_shard, verify

    if args.verify:
        if len(args.paths) != 1:
            raise UserError("--verify takes one folder: mmgraph convert --verify OUT")
        report = verify(args.paths[0], content=True)
        print(report.summary())
        return 0 if report.ok else 1
    if args.merge:
        parts, dest = (args.paths[:-1] or args.paths), args.paths[-1]
        report = merge(parts, dest)
        print(report.summary())
        return 1 if report.empty else 0
    graph = _graph_overrides(args.graph)
    if args.preflight:
        from mmgraph.convert.sizing import DEFAULT_PREFLIGHT_BATCH, DEFAULT_PREFLIGHT_SAMPLES, preflight

        if len(args.paths) != 1:
            raise UserError("--preflight takes one SOURCE (nothing is written): mmgraph convert --preflight SOURCE")
        report = preflight(args.paths[0], graph_config=graph, samples=args.samples or DEFAULT_PREFLIGHT_SAMPLES,
                           batch_size=args.batch_size or DEFAULT_PREFLIGHT_BATCH, root=args.root, data_seed=args.seed,
                           allow_outside=args.allow_outside)
        print(report.summary())
        return 0
    if args.samples is not None or args.batch_size is not None:
        raise UserError("--samples and --batch-size go with --preflight (a conversion reads every record)")
    if len(args.paths) != 2:
        raise UserError("expected SOURCE OUT (or --preflight SOURCE, --verify OUT, or --merge PART... DEST)")
    report = convert(args.paths[0], args.paths[1], workers=args.workers, shard=parse_shard(args.shard),
                     graph_config=graph, progress=not args.no_progress, chunk_size=args.chunk_size,
                     root=args.root, seed=args.seed, allow_outside=args.allow_outside, engine=args.engine,
                     address=args.address)
    print(report.summary())
    return 1 if report.empty else 0  # a complete output without a sample: the rejections say why


def _cmd_explain(args: argparse.Namespace) -> int:
    from mmgraph.explain import explain_run

    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    if not ids:
        raise UserError("--ids needs at least one sample id (ID[,ID...])")
    written = explain_run(args.run, args.data, ids, args.out, method=args.method, split=args.split, root=args.root,
                          allow_outside=args.allow_outside)
    for path in written:
        print(path)
    print(f"explained {len(ids)} sample(s) with the {args.method} method: {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    """One row per sample: id, the modalities present, per task the predicted class (its id and name) and the
    class probabilities, or the predicted value; with --explain each modality's importance."""
    from mmgraph.predict import predict_run

    result = predict_run(args.run, args.data, args.out, split=args.split, explain=args.explain, root=args.root,
                         allow_outside=args.allow_outside, batch_size=args.batch_size, device=args.device)
    print(result.summary())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    """The task metrics of a trained run on a split of any dataset or manifest; with --robustness also the
    benchmark's robustness card: each modality removed, and the audio-SNR and image-noise sweeps."""
    from mmgraph.evaluate import evaluate_run

    result = evaluate_run(args.run, args.data, args.out, split=args.split, robustness=args.robustness,
                          root=args.root, allow_outside=args.allow_outside, device=args.device,
                          batch_size=args.batch_size)
    print(result.summary())
    return 0


def _cmd_cluster(args: argparse.Namespace) -> int:
    """Cluster a split of a dataset without labels, on what a run trained (a pretraining run: its
    contrastive projections; a trained run: its graph embedding); writes clusters.csv and
    cluster_metrics.json (NMI, ARI and Hungarian accuracy when the split has labels)."""
    from mmgraph.bench.cluster import cluster_run

    result = cluster_run(args.run, args.data, args.out, k=args.k, method=args.method, features=args.features,
                         split=args.split, seed=args.seed, root=args.root, allow_outside=args.allow_outside)
    print(result.summary())
    return 0


# ------------------------------------------------------------------------------------------ parser

_DATA_HELP = "built-in dataset name, manifest (.jsonl/.csv) or folder written by 'mmgraph convert'"
_DEVICE_HELP = "auto (CUDA when present; the default), cpu, cuda, cuda:N, mps"


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="raw-data folder, for built-in datasets that need one (default $MMGRAPH_DATA)")
    p.add_argument("--allow-outside", action="store_true",
                   help="accept manifest file paths outside the manifest's folder (refused by default)")


def _add_run_and_data(p: argparse.ArgumentParser, split: str) -> None:
    """RUN DATA, the split (default ``split``) and where to read and run them: what ``predict`` and
    ``evaluate`` share."""
    p.add_argument("run", metavar="RUN", help="run folder (from mmgraph train or mmgraph bench)")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--split", default=split, help=f"train, val, test, or all: every split in order (default: {split})")
    p.add_argument("--device", help=_DEVICE_HELP)
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass (default 256)")
    _add_data_options(p)


def _add_train_options(p: argparse.ArgumentParser, *, lr: str = "1e-3", batch_size: int = 64,
                       epochs: str = "maximum epochs (default 10; with --resume: more epochs extend the run)") -> None:
    # The defaults shown are TrainConfig's (train) or PRETRAIN_TRAIN_CONFIG's (pretrain), written out here so
    # that --help needs no import of the training code; tests/test_cli.py holds the two together.
    p.add_argument("--epochs", type=int, help=epochs)
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and dropout (default 0)")
    p.add_argument("--lr", type=float, help=f"peak learning rate of AdamW (default {lr})")
    p.add_argument("--batch-size", type=int, help=f"training batch size in graphs (default {batch_size})")
    p.add_argument("--device", help=_DEVICE_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars and no per-epoch lines")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log progress details")

    parser = _Parser(
        prog="mmgraph",
        description="Graph-centric multimodal learning: samples → heterogeneous graphs → cross-modal GNNs.",
    )
    parser.add_argument("--version", action="version", version=f"mmgraph {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="run mmgraph COMMAND --help for its options")

    def command(name: str, help: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=kw.pop("description", help), parents=[common], **kw)

    p = command("info", "print a dataset's statistics and its graphs' shapes")
    p.add_argument("dataset", help="built-in dataset name (e.g. digits)")
    p.add_argument("--root", help="raw-data folder, for built-in datasets that need one (default $MMGRAPH_DATA)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_info)

    p = command("train", "train a model on a dataset into a run folder",
                description="Train a model into a run folder: run.json, checkpoints/ (best.pt: the state dict, "
                "last.pt: the training state), metrics.json/.csv, curves.png, test_metrics.json. Settings: the "
                "defaults, then the --model file's [train] table, then these flags.")
    p.add_argument("--data", required=True, help=_DATA_HELP)
    p.add_argument("--model", help="model config TOML ([model] and optionally [train] tables) or a model name "
                   "(default: mmgnn)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics, run.json)")
    _add_train_options(p)
    p.add_argument("--patience", type=int, help="stop after this many epochs without a better validation score")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint with its stored settings; --epochs "
                   "(and --patience) may extend it")
    p.add_argument("--init", help="run folder or checkpoint whose matching weights initialise the model")
    p.add_argument("--finetune", choices=["full", "probe", "lpft"],
                   help="with --init: full (every parameter at --lr; the default), probe (only the task head, at 1e-2; "
                   "encoders, layers and readout frozen), lpft (the head alone for the first half of the steps, then "
                   "everything with encoders, layers and readout at 0.1 x --lr)")
    p.add_argument("--steps", type=int, help="optimisation steps (instead of --epochs full passes)")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                   help="read a converted folder's train split shard by shard (data larger than memory; val/test "
                   "stay in memory); default: only when it would not fit, said in the log")
    p.add_argument("--buffer-size", type=int, default=16_384,
                   help="with --stream: samples per shuffle window (default 16384; memory grows with it)")
    p.add_argument("--graph", metavar="FILE.toml", help=GRAPH_HELP)
    p.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard (the tensorboard extra)")
    _add_data_options(p)
    p.set_defaults(func=_cmd_train)

    p = command("pretrain", "self-supervised pretraining of the graph model (labels unread) into a run folder",
                description="Self-supervised pretraining into a run folder (labels unread). Defaults: cross-modal "
                "InfoNCE between separately encoded modalities (temperature 0.1, projections 128) plus the joint-pass "
                "term (weight 0.5); 1,200 AdamW steps of 256 samples at lr 2e-3 (100 warm-up steps, cosine); "
                "augmentations redraw (AV-MNIST), specaugment, patch_dropout. Every epoch logs the train and held-out "
                "InfoNCE next to chance, ln(batch); a run still at chance after its warm-up fails.")
    p.add_argument("--data", required=True, help=_DATA_HELP)
    p.add_argument("--out", required=True, help="run folder (checkpoints, run.json); fine-tune with train --init OUT")
    p.add_argument("--objective", choices=["masked", "contrastive", "both"],
                   help="cross-modal contrastive (the default), masked-node reconstruction, or both")
    p.add_argument("--mask-ratio", type=float, help="fraction of each modality's nodes masked (default 0.5)")
    p.add_argument("--joint-weight", type=float, help="weight of the joint-pass alignment term (default 0.5; 0: none)")
    p.add_argument("--augment", metavar="A[,A...]|none",
                   help="augmentations: redraw, specaugment, patch_dropout (default: all three), or none")
    p.add_argument("--no-chance-guard", action="store_true",
                   help="do not fail a contrastive run whose loss stays at chance")
    p.add_argument("--steps", type=int, help="optimisation steps (default 1200; --epochs alone: full passes instead)")
    p.add_argument("--model", help="model config TOML or 'mmgnn' (the architecture to fine-tune; default mmgnn)")
    _add_train_options(p, lr="2e-3", batch_size=256,
                       epochs="full passes instead of --steps (with --resume: more epochs extend the run)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; --epochs may extend it")
    p.add_argument("--root", help="raw-data folder, for built-in datasets that need one (default $MMGRAPH_DATA)")
    p.set_defaults(func=_cmd_pretrain)

    p = command("bench", "run a benchmark suite (default: quick, on the embedded dataset)",
                description="Runs a suite of models x seeds (kind 'models') or the self-supervised stages "
                "(kind 'ssl'); the suite's kind picks the runner.")
    p.add_argument("--suite", default="quick", help="suite name (see --list) or TOML file (default: quick)")
    p.add_argument("--out", help="output folder (default: bench-out/SUITE); reruns resume")
    p.add_argument("--quick", action="store_true", help="apply the suite's [quick] settings")
    p.add_argument("--list", action="store_true", help="list the built-in suites (each one parsed) and exit")
    p.add_argument("--seeds", type=int, help="number of seeds (0..N-1), overriding the suite")
    p.add_argument("--threads", type=int, help="torch threads per run (default: the suite's, else the CPUs divided "
                   "among the workers, else torch's)")
    p.add_argument("--workers", type=int, help="runs at once, each in its own process (default: the suite's, else 1; "
                   "at most the CPU count)")
    p.add_argument("--graph", metavar="FILE.toml", help=GRAPH_HELP + ", after the suite's own [graph]")
    p.add_argument("--root", help="raw-data folder, for built-in datasets that need one (default $MMGRAPH_DATA)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_bench)

    p = command(
        "convert", "convert a manifest or a built-in dataset into graph shards (parallel, resumable)",
        usage="mmgraph convert SOURCE OUT [options] | --preflight SOURCE | --verify OUT | --merge PART... DEST",
        description="SOURCE is a manifest (.jsonl/.csv) or a built-in dataset name. OUT gets shards/, meta.json "
        "and rejected.jsonl; re-running on the same OUT resumes. Exit status: 0; 1 when the output holds no "
        "sample (every record rejected, or none at all: rejected.jsonl says why) or --verify finds a problem; "
        "2 on a usage error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="SOURCE OUT; OUT with --verify; PART... DEST with --merge")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1); with --engine ray and no --address: CPUs of the local Ray "
                   "instance (default: all)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this machine's processes (default); ray: Ray Data tasks on a Ray cluster, same output "
                   '(needs pip install "mmgraph[ray]")')
    p.add_argument("--address", metavar="auto|ray://HOST:PORT",
                   help="with --engine ray: the cluster to join (auto: the one 'ray start' runs here); default: start "
                   "a local Ray instance")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="convert only part I of N (one of N machines)")
    p.add_argument("--graph", metavar="FILE.toml", help=GRAPH_HELP)
    p.add_argument("--chunk-size", type=int, default=512, help="records per shard (default 512)")
    p.add_argument("--preflight", action="store_true",
                   help="read a sample of SOURCE's records and print nodes, edges and memory per sample and per batch, "
                        "and suggested settings; writes nothing")
    p.add_argument("--samples", type=int, help="with --preflight: records to read (default 64, a seeded random sample)")
    p.add_argument("--batch-size", type=int,
                   help="with --preflight: the batch size whose memory is estimated (default 32)")
    p.add_argument("--root", help="raw-data folder, for built-in datasets that need one (default $MMGRAPH_DATA)")
    p.add_argument("--seed", type=int, default=0, help="built-in dataset seed (default 0)")
    p.add_argument("--allow-outside", action="store_true",
                   help="accept manifest file paths outside the manifest's folder (refused by default)")
    p.add_argument("--verify", action="store_true",
                   help="check OUT's shards against meta.json checksums and print the content hash of its (id, "
                   "graph) pairs")
    p.add_argument("--merge", action="store_true", help="merge the --shard parts PART... into DEST")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_convert)

    p = command("explain", "explain a trained run's predictions: modality and node importance (JSON + PNG)")
    p.add_argument("--run", required=True, help="run folder (from mmgraph train)")
    p.add_argument("--data", help=f"{_DATA_HELP} (default: the run's own data, as run.json records it)")
    p.add_argument("--ids", required=True, metavar="ID[,ID...]", help="sample ids to explain, comma-separated")
    p.add_argument("--out", required=True, help="output folder: <id>.json and <id>.png per sample")
    p.add_argument("--method", choices=["gradient", "attention"], default="gradient",
                   help="integrated gradients (default) or the readout's attention and gate weights")
    p.add_argument("--split", default="test", help="dataset split holding the samples (default: test)")
    _add_data_options(p)
    p.set_defaults(func=_cmd_explain)

    p = command("predict", "predictions of a trained run for a dataset: one row per sample (CSV or JSONL)",
                description=_cmd_predict.__doc__)
    _add_run_and_data(p, "all")
    p.add_argument("--out", required=True, help="predictions file: .csv or .jsonl")
    p.add_argument("--explain", action="store_true",
                   help="add each modality's importance (integrated gradients; graph models only)")
    p.set_defaults(func=_cmd_predict)

    p = command("cluster", "cluster a dataset's samples without labels on a run's features (CSV + metrics JSON)",
                description=_cmd_cluster.__doc__)
    p.add_argument("run", metavar="RUN", help="run folder (from mmgraph pretrain, or mmgraph train)")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--k", type=int, default=10, help="number of clusters (default 10)")
    p.add_argument("--method", choices=["kmeans", "dec"], default="kmeans",
                   help="k-means (default) or DEC trained on unlabelled training samples with the InfoNCE kept")
    p.add_argument("--features", choices=["projections", "joint", "all"], default="projections",
                   help="pretraining runs: per-modality projections (default), the joint graph embedding, or both")
    p.add_argument("--split", default="test", help="the split clustered (default: test)")
    p.add_argument("--seed", type=int, default=0, help="seed of k-means and DEC (default 0)")
    p.add_argument("--out", help="output folder (default: RUN/clusters/DATA-SPLIT)")
    _add_data_options(p)
    p.set_defaults(func=_cmd_cluster)

    p = command("evaluate", "a trained run's metrics on a dataset, and its robustness card (JSON, Markdown, plots)",
                description=_cmd_evaluate.__doc__)
    _add_run_and_data(p, "test")
    p.add_argument("--out", help="folder for results.json/.csv/.md and plots (default: RUN/evaluation/DATA-SPLIT)")
    p.add_argument("--robustness", action="store_true",
                   help="also: each modality removed, audio-SNR and image-noise sweeps (as mmgraph bench)")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def _report(command: str, exc: BaseException) -> int:
    """Print one line about ``exc``; the exit status says whether it is the user's error or a bug."""
    user = exc if isinstance(exc, (*USER_ERRORS, DiskFullError)) else None  # a full disk is no bug either
    if user is None and isinstance(exc, ImportError):
        user = missing_extra(exc)
    if user is not None:
        print(f"mmgraph {command}: error: {user}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"mmgraph {command}: internal error (a bug, not a problem with your input): {type(exc).__name__}: {exc}; "
          f"rerun with --debug for the traceback, and please report it", file=sys.stderr)
    return EXIT_BUG


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"mmgraph {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report(args.command, exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
