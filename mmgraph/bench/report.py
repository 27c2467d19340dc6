"""Benchmark reports: ``results.json`` (the source of truth) → CSV, Markdown tables and PNG plots."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

from mmgraph.files import write_atomic

LOWER_IS_BETTER = ("mae", "rmse", "loss", "parameters", "seconds", "peak_rss")
SWEEP_TITLES = {"audio_snr_db": "audio-SNR sweep", "image_noise_std": "image-noise sweep",
                "image_contrast": "image-contrast sweep", "image_hue_deg": "image-hue sweep",
                "text_rare_other": "rare-words sweep", "text_drop": "dropped-words sweep",
                "text_unknown": "unknown-words sweep"}
"""Sweep kind → its name in table headers (``mmgraph.bench.robustness.SWEEPS``)."""
SWEEP_AXES = {"audio_snr_db": "test audio SNR (dB)", "image_noise_std": "test image noise σ",
              "image_contrast": "test image contrast factor", "image_hue_deg": "test image hue rotation (degrees)",
              "text_rare_other": "rare words of other classes appended (k)", "text_drop": "words dropped (k)",
              "text_unknown": "words replaced by unknown words (k)"}


def lower_is_better(column: str) -> bool:
    return any(key in column for key in LOWER_IS_BETTER)


def flatten(run: dict[str, Any]) -> dict[str, float | str | None]:
    """One run as a flat row: test metrics, robustness numbers and costs."""
    row: dict[str, Any] = {"model": run["label"], "seed": run["seed"]}
    for k, v in run["test"].items():
        row[f"test/{k}"] = v
    for k, v in run["robustness"].items():
        if isinstance(v, dict):
            row[f"{k}/auc"] = v["auc"]
            for level, value in zip(v["levels"], v["values"]):
                row[f"{k}={level:g}"] = value
        else:
            row[k] = v
    for k, v in run["cost"].items():
        row[f"cost/{k}"] = v
    return row


def summarize(report: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """model label → column → {mean, std, n} over seeds."""
    rows = [flatten(r) for r in report["runs"]]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label in report["models"]:
        mine = [r for r in rows if r["model"] == label]
        cols = sorted({k for r in mine for k in r if k not in ("model", "seed")})
        out[label] = {}
        for col in cols:
            values = [float(r[col]) for r in mine if isinstance(r.get(col), (int, float)) and r[col] is not None]
            values = [v for v in values if math.isfinite(v)]
            if values:
                out[label][col] = {
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "n": len(values),
                }
    return out


def _fmt(stat: dict[str, float] | None, column: str) -> str:
    if stat is None:
        return "–"
    mean, std = stat["mean"], stat["std"]
    if any(key in column for key in ("accuracy", "f1", "nmi", "without_", "shift_", "auc")):
        text = f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if stat["n"] > 1 else "")
    elif "parameters" in column:
        text = f"{mean / 1000:.0f} k"
    elif "rss" in column:
        text = f"{mean:.0f}"
    elif "samples_per_s" in column:
        text = f"{mean:.0f}"
    else:
        text = f"{mean:.2f}" + (f" ± {std:.2f}" if stat["n"] > 1 else "")
    return text


def markdown_table(report: dict[str, Any], summary: dict, columns: list[tuple[str, str]]) -> str:
    """A Markdown table of mean ± std per model; the best value of each column in bold."""
    columns = [(c, h) for c, h in columns if any(c in summary[m] for m in summary)]
    lines = ["| model | " + " | ".join(h for _, h in columns) + " |", "| --- " * (len(columns) + 1) + "|"]
    best = {}
    for col, _ in columns:
        values = [(summary[m][col]["mean"], m) for m in summary if col in summary[m]]
        if len(values) > 1 and not col.startswith("cost/epochs"):
            best[col] = (min if lower_is_better(col) else max)(values)[1]
    for label in report["models"]:
        cells = []
        for col, _ in columns:
            text = _fmt(summary[label].get(col), col)
            cells.append(f"**{text}**" if best.get(col) == label else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_columns(report: dict[str, Any]) -> list[tuple[str, str]]:
    headline = report["headline"]
    cols = [(f"test/{headline}", f"test {headline}")]
    measured = {k for r in report["runs"] for k in r["test"]}
    for task, spec in report["tasks"].items():
        metric = "accuracy" if spec["kind"].endswith("classification") else "mae"
        if f"{task}/{metric}" != headline and f"{task}/{metric}" in measured:
            cols.append((f"test/{task}/{metric}", f"test {task}/{metric}"))
    for m in report["modalities"]:
        if len(report["modalities"]) > 1:
            cols.append((f"without_{m}", f"{m} removed"))
    shifts = sorted({k for r in report["runs"] for k in r["robustness"] if k.startswith("shift_")})
    cols += [(k, k[len("shift_"):].replace("_", " ") + " shift") for k in shifts]
    cols += [(f"{kind}/auc", f"AUC {SWEEP_TITLES[kind]}") for kind in SWEEP_TITLES]
    cols += [
        ("cost/parameters", "params"),
        ("cost/seconds_per_epoch", "s/epoch"),
        ("cost/train_samples_per_s", "train samples/s"),
        ("cost/inference_samples_per_s", "inference samples/s"),
        ("cost/peak_rss_mb", "peak RSS MB"),
    ]
    return cols


def render_markdown(report: dict[str, Any], summary: dict) -> str:
    sizes = ", ".join(f"{k} {v:,}" for k, v in report["sizes"].items())
    seeds = report["seeds"]
    lines = [
        report.get("title") or f"# Benchmark `{report['suite']}` on `{report['dataset']}`",
        "",
        report.get("description") or "",
        "",
        f"Splits: {sizes}. Seeds: {seeds} (mean ± std over {len(seeds)} seed{'s' if len(seeds) > 1 else ''}). "
        f"Headline: `{report['headline']}` (model selection on val; the test split is only evaluated).",
        "Missing-modality columns: the modality's nodes removed from every test sample. Shift columns: the "
        "dataset's shifted test sets (e.g. held-out speakers / noise categories, never seen in training). "
        "Sweeps: white noise added to the test audio at each SNR (dB); Gaussian pixel noise of each σ, contrast "
        "scaled by each factor, hue rotated by each angle on the test images; k rare words of other classes "
        "appended, k words dropped, k words replaced by unknown ones in the test text "
        "(`mmgraph.bench.perturb`); AUC = mean of the headline metric over the sweep range. Best per column "
        "in bold.",
        "",
        markdown_table(report, summary, report_columns(report)),
        "",
    ]
    sweeps = sorted({k for r in report["runs"] for k, v in r["robustness"].items() if isinstance(v, dict)})
    for kind in sweeps:
        levels = next(r["robustness"][kind]["levels"] for r in report["runs"] if kind in r["robustness"])
        cols = [(f"{kind}={lv:g}", f"{lv:g}") for lv in levels]
        lines += [f"## {kind} sweep ({report['headline']})", "", markdown_table(report, summary, cols), ""]
    m = report["machine"]
    lines += [
        f"Machine: Python {m['python']}, torch {m['torch']}, {m['threads']} threads, {m['processor']}"
        + (f", {m['cuda']}" if m.get("cuda") else "") + f"; mmgraph {m['mmgraph']}.",
        f"Wall time: {report['wall_seconds'] / 60:.1f} min. Command: `{report['command']}`",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], summary: dict, out: Path) -> list[str]:
    """PNG plots: robustness curves per sweep, and headline accuracy vs cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    headline = report["headline"]
    sweeps = sorted({k for r in report["runs"] for k, v in r["robustness"].items() if isinstance(v, dict)})
    for kind in sweeps:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for label in report["models"]:
            runs = [r for r in report["runs"] if r["label"] == label and kind in r["robustness"]]
            if not runs:
                continue
            levels = runs[0]["robustness"][kind]["levels"]
            values = [[r["robustness"][kind]["values"][i] for r in runs] for i in range(len(levels))]
            mean = [statistics.fmean(v) for v in values]
            std = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
            ax.errorbar(levels, mean, yerr=std, marker="o", capsize=3, label=label)
        ax.set_xlabel(SWEEP_AXES.get(kind, kind))
        ax.set_ylabel(headline)
        if kind == "audio_snr_db":
            ax.invert_xaxis()
        ax.set_title(f"{report['dataset']}: robustness ({kind})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"robustness_{kind}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        files.append(path.name)
    col = f"test/{headline}"
    points = [(summary[m].get("cost/seconds_per_epoch"), summary[m].get(col), summary[m].get("cost/parameters"), m)
              for m in report["models"]]
    points = [p for p in points if p[0] and p[1]]
    if points:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for sec, acc, params, label in points:
            size = 30 + 200 * (params["mean"] / max(p[2]["mean"] for p in points)) if params else 40
            ax.errorbar(sec["mean"], acc["mean"], yerr=acc["std"], fmt="o", markersize=math.sqrt(size), capsize=3)
            ax.annotate(label, (sec["mean"], acc["mean"]), textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.set_xlabel("training seconds per epoch")
        ax.set_ylabel(headline)
        ax.set_title(f"{report['dataset']}: {headline} vs cost (marker area ∝ parameters)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out / "accuracy_vs_cost.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        files.append(path.name)
    return files


def write_report(report: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Write ``results.json``, ``results.csv``, ``results.md`` and the plots into ``out``."""
    out = Path(out)
    summary = summarize(report)
    report = {**report, "summary": summary}
    write_atomic(out / "results.json", json.dumps(report, indent=2, default=float).encode())
    rows = [flatten(r) for r in report["runs"]]
    keys = ["model", "seed"] + sorted({k for r in rows for k in r} - {"model", "seed"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "results.csv", buf.getvalue().encode())
    plots = plot(report, summary, out)
    text = render_markdown(report, summary)
    if plots:
        text += "\n" + "\n".join(f"![{p}]({p})" for p in plots) + "\n"
    write_atomic(out / "results.md", text.encode())
    return report


def print_table(report: dict[str, Any]) -> str:
    """The main table as text for the terminal."""
    summary = report.get("summary") or summarize(report)
    return markdown_table(report, summary, report_columns(report))
