"""The ``mmgraph`` command: thin wrappers that parse, call one library function, and print."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import mmgraph


class UserError(Exception):
    """A problem with the user's input: reported in one line, without a traceback."""


def _cmd_info(args: argparse.Namespace) -> int:
    from mmgraph.info import dataset_report

    print(dataset_report(args.dataset, root=args.root, seed=args.seed, progress=not args.no_progress))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from mmgraph.train import TrainConfig
    from mmgraph.train.runs import train_run

    overrides = {k: v for k, v in {"epochs": args.epochs, "seed": args.seed, "lr": args.lr,
                                   "batch_size": args.batch_size, "patience": args.patience}.items() if v is not None}
    config = TrainConfig(**overrides, progress=not args.no_progress, tensorboard=args.tensorboard,
                         device=args.device)
    metrics = train_run(args.data, args.model, args.out, train_config=config, root=args.root,
                        resume=args.resume, init=args.init, stream=args.stream, buffer_size=args.buffer_size)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
    print(json.dumps({k: metrics[k] for k in ("best_epoch", "monitor", "best_val") if k in metrics}))
    for split in ("val", "test"):
        if split in metrics:
            shown = {k: round(v, 4) for k, v in metrics[split].items()}
            print(f"{split}: {shown}")
    print(f"run folder: {args.out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from mmgraph.bench import describe_suites, run_benchmark

    if args.list:
        print(describe_suites())
        return 0
    run = run_benchmark(args.suite, args.out, quick=args.quick,
                        seeds=list(range(args.seeds)) if args.seeds is not None else None, root=args.root,
                        threads=args.threads, progress=not args.no_progress,
                        command="mmgraph " + " ".join(sys.argv[1:]))
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
        print(merge(parts, dest).summary())
        return 0
    if len(args.paths) != 2:
        raise UserError("expected SOURCE OUT (or --verify OUT, or --merge PART... DEST)")
    from mmgraph.graph.config import GraphConfig

    graph = GraphConfig.from_toml(args.graph) if args.graph else None
    report = convert(args.paths[0], args.paths[1], workers=args.workers, shard=parse_shard(args.shard),
                     graph_config=graph, progress=not args.no_progress, chunk_size=args.chunk_size,
                     root=args.root, seed=args.seed, allow_outside=args.allow_outside, engine=args.engine,
                     address=args.address)
    print(report.summary())
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from mmgraph.explain import explain_run

    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    if not ids:
        raise UserError("--ids needs at least one sample id (ID[,ID...])")
    written = explain_run(args.run, args.data, ids, args.out, method=args.method, split=args.split, root=args.root)
    for path in written:
        print(path)
    print(f"explained {len(ids)} sample(s) with the {args.method} method: {args.out}")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import json

    from mmgraph.train import TrainConfig
    from mmgraph.train.pretrain import PretrainConfig, pretrain_run

    if not 0.0 < args.mask_ratio <= 1.0:
        raise UserError(f"--mask-ratio must be in (0, 1] (got {args.mask_ratio})")
    overrides = {k: v for k, v in {"epochs": args.epochs, "seed": args.seed, "lr": args.lr,
                                   "batch_size": args.batch_size}.items() if v is not None}
    config = TrainConfig(**overrides, progress=not args.no_progress, device=args.device)
    summary = pretrain_run(args.data, args.out, model=args.model, train_config=config, root=args.root,
                           resume=args.resume,
                           pretrain_config=PretrainConfig(objective=args.objective, mask_ratio=args.mask_ratio))
    print(json.dumps(summary))
    print(f"run folder: {args.out} (fine-tune with: mmgraph train --init {args.out} ...)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmgraph",
        description="Graph-centric multimodal learning: samples → heterogeneous graphs → cross-modal GNNs.",
    )
    parser.add_argument("--version", action="version", version=f"mmgraph {mmgraph.__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="print a dataset's statistics and its graphs' shapes")
    p.add_argument("dataset", help="built-in dataset name (e.g. digits)")
    p.add_argument("--root", help="folder with the raw files (for datasets that need them)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train a model on a dataset into a run folder")
    p.add_argument("--data", required=True, help="built-in dataset name, manifest (.jsonl/.csv) or converted folder")
    p.add_argument("--model", default="mmgnn", help="model config TOML or a model name (default: mmgnn)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics, run.json)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patience", type=int, help="early stopping patience in epochs")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--init", help="run folder or checkpoint whose matching weights initialise the model")
    p.add_argument("--root", help="raw-data folder (default $MMGRAPH_DATA)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                   help="read a converted folder's train split shard by shard (data larger than memory; val/test "
                   "stay in memory); default: only when it would not fit, said in the log")
    p.add_argument("--buffer-size", type=int, default=16_384,
                   help="with --stream: samples per shuffle window (default 16384; memory grows with it)")
    p.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard (needs the extra)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("bench", help="run a benchmark suite (default: quick, on the embedded dataset)",
                       description="Runs a suite of models x seeds (kind 'models') or the self-supervised stages "
                       "(kind 'ssl'); the suite's kind picks the runner.")
    p.add_argument("--suite", default="quick", help="suite name (see --list) or TOML file (default: quick)")
    p.add_argument("--out", help="output folder (default: bench-out/SUITE); reruns resume")
    p.add_argument("--quick", action="store_true", help="apply the suite's [quick] settings")
    p.add_argument("--list", action="store_true", help="list the built-in suites (each one parsed) and exit")
    p.add_argument("--seeds", type=int, help="number of seeds (0..N-1), overriding the suite")
    p.add_argument("--threads", type=int, help="torch threads per run (default: the suite's, else torch's)")
    p.add_argument("--root", help="raw-data folder (default $MMGRAPH_DATA)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "convert", help="convert a manifest or a built-in dataset into graph shards (parallel, resumable)",
        usage="mmgraph convert SOURCE OUT [options] | --verify OUT | --merge PART... DEST",
        description="SOURCE is a manifest (.jsonl/.csv) or a built-in dataset name. OUT gets shards/, meta.json "
        "and rejected.jsonl; re-running on the same OUT resumes.",
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
    p.add_argument("--graph", metavar="CONFIG.toml", help="graph config (default: the dataset's, or defaults)")
    p.add_argument("--chunk-size", type=int, default=512, help="records per shard (default 512)")
    p.add_argument("--root", help="raw-data folder, for built-in datasets that need one")
    p.add_argument("--seed", type=int, default=0, help="built-in dataset seed (default 0)")
    p.add_argument("--allow-outside", action="store_true", help="allow manifest paths outside its folder")
    p.add_argument("--verify", action="store_true",
                   help="check OUT's shards against meta.json checksums and print the content hash of its (id, "
                   "graph) pairs")
    p.add_argument("--merge", action="store_true", help="merge the --shard parts PART... into DEST")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("explain", help="explain a trained run's predictions: modality and node importance (JSON + PNG)")
    p.add_argument("--run", required=True, help="run folder (from mmgraph train)")
    p.add_argument("--data", required=True, help="built-in dataset name, manifest (.jsonl/.csv) or converted folder")
    p.add_argument("--ids", required=True, metavar="ID[,ID...]", help="sample ids to explain, comma-separated")
    p.add_argument("--out", required=True, help="output folder: <id>.json and <id>.png per sample")
    p.add_argument("--method", choices=["gradient", "attention"], default="gradient",
                   help="integrated gradients (default) or the readout's attention and gate weights")
    p.add_argument("--split", default="test", help="dataset split holding the samples (default: test)")
    p.add_argument("--root", help="raw-data folder (default: the run's, or $MMGRAPH_DATA)")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("pretrain", help="self-supervised pretraining of the graph model (labels unread) into a run "
                       "folder")
    p.add_argument("--data", required=True, help="built-in dataset name, manifest (.jsonl/.csv) or converted folder")
    p.add_argument("--out", required=True, help="run folder (checkpoints, run.json); fine-tune with train --init OUT")
    p.add_argument("--objective", choices=["masked", "contrastive", "both"], default="both",
                   help="masked-node reconstruction, cross-modal contrastive, or both (default)")
    p.add_argument("--mask-ratio", type=float, default=0.5, help="fraction of each modality's nodes masked (0.5)")
    p.add_argument("--model", default="mmgnn", help="model config TOML or 'mmgnn' (the architecture to fine-tune)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--root", help="raw-data folder (default $MMGRAPH_DATA)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_pretrain)
    return parser


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
    except (UserError, ValueError, KeyError, FileNotFoundError, TypeError) as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mmgraph {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mmgraph {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
