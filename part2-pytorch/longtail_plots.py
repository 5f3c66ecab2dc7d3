"""Plots and tables of the long-tailed experiments, all drawn from the grid's CSV rows (experiments.py --plot).

One set of files per grid: the CPU grid's are results/longtail_*.png and longtail_tables.md, another grid's carry
its name (longtail_paper_*.png). Rows whose run had --set overrides are left out: they did not run the grid's
schedule, and averaging them with the rest would mix two experiments.
"""
import io
import statistics
from typing import NamedTuple

from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
from matplotlib.ticker import FixedLocator, NullLocator

from data.dataset_cifar import IMBALANCECIFAR10, SHORT_CLASS_NAMES

ACCURACY_LABEL = "test accuracy (balanced test set, fraction)"
DPI = 110


def loss_label(row):
    """A readable name for the loss of a row: CE, CB-CE, CB-Focal g=1, CB-Sigmoid g=1."""
    if str(row["reweight"]).lower() != "true":  # a spreadsheet writes TRUE
        return row["loss_type"] if float(row["gamma"]) == 0 else f"{row['loss_type']} g={float(row['gamma']):g}"
    if row["loss_type"] == "CE":
        return "CB-CE"
    kind = "CB-Focal" if row["loss_type"] == "Focal" else "CB-Sigmoid"
    return f"{kind} g={float(row['gamma']):g}"


class Setting(NamedTuple):
    """What the seeds of one line of a table share."""
    factor: float  # imb_factor
    loss: str  # loss_label
    beta: float

    def name(self, before_beta=", "):
        """The loss, and its beta where it has class weights: 'CE', 'CB-Focal g=1, beta 0.9999'."""
        return self.loss if self.loss == "CE" else f"{self.loss}{before_beta}beta {self.beta:g}"


class Result(NamedTuple):
    """The seeds of one setting: mean and standard deviation (0 for one seed) of the test accuracy, their count,
    and the mean accuracy of each class."""
    acc: float
    spread: float
    seeds: int
    per_class: list


def setting_of(row):
    return Setting(float(row["imb_factor"]), loss_label(row), float(row["beta"]))


def baseline(factor):
    """Plain CE, against which the class-balanced losses are measured."""
    return Setting(factor, "CE", 0.0)


def summarise(rows):
    """{Setting: Result} over the rows' seeds."""
    groups = {}
    for row in rows:
        groups.setdefault(setting_of(row), []).append(row)
    summary = {}
    for setting, members in groups.items():
        accs = [float(r["test_acc"]) for r in members]
        summary[setting] = Result(
            acc=statistics.mean(accs), spread=statistics.stdev(accs) if len(accs) > 1 else 0.0, seeds=len(accs),
            per_class=[statistics.mean(float(r[f"class_{c}"]) for r in members) for c in range(10)])
    return summary


def best_class_balanced(summary, factor):
    """The setting of the class-balanced loss with the highest mean accuracy at `factor`."""
    settings = [s for s in summary if s.factor == factor and s.loss.startswith("CB")]
    return max(settings, key=lambda s: summary[s].acc) if settings else None


def ratio(factor):
    return f"{round(1 / factor)}:1"


def describe(rows):
    """'VanillaCNN, grid cpu, 8 epochs': what the rows' runs were, for titles."""
    models = ", ".join(sorted({row["model"] for row in rows}))
    epochs = "/".join(sorted({str(row["epochs"]) for row in rows}, key=int))
    return f"{models}, grid {rows[0]['grid']}, {epochs} epochs"


def class_counts(rows, factor):
    return IMBALANCECIFAR10.get_img_num_per_cls(10, rows[0]["imb_type"], factor)


def png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def plot_per_class(rows, summary, factor):
    best = best_class_balanced(summary, factor)
    if best is None or baseline(factor) not in summary:
        return None
    figure = Figure(figsize=(8.5, 4.2), layout="constrained")
    axes = figure.subplots()
    width = 0.4
    for offset, setting in ((-width / 2, baseline(factor)), (width / 2, best)):
        result = summary[setting]
        label = f"{setting.name()} (mean {result.acc:.3f}, {result.seeds} seed(s))"
        axes.bar([c + offset for c in range(10)], result.per_class, width, label=label)
    counts = class_counts(rows, factor)
    axes.set_xticks(range(10), [f"{name}\n{count}" for name, count in zip(SHORT_CLASS_NAMES, counts)])
    axes.set(xlabel="class (and its training images)", ylabel=ACCURACY_LABEL, ylim=(0, 1),
             title=f"Per-class accuracy at {ratio(factor)}: {describe(rows)}")
    axes.legend(loc="upper right", fontsize=8)
    return figure


def plot_beta_sweep(rows, summary):
    factors = sorted({s.factor for s in summary})
    figure = Figure(figsize=(5.5 * len(factors), 4.4), layout="constrained")
    for axes, factor in zip(figure.subplots(1, len(factors), squeeze=False)[0], factors):
        weighted = [s for s in summary if s.factor == factor and s.loss.startswith("CB")]
        betas = sorted({s.beta for s in weighted})
        for loss in sorted({s.loss for s in weighted}):
            line = sorted((s for s in weighted if s.loss == loss), key=lambda s: s.beta)
            axes.plot([s.beta for s in line], [summary[s].acc for s in line], marker="o", label=loss)
        if baseline(factor) in summary:
            axes.axhline(summary[baseline(factor)].acc, color="black", linestyle="--", label="CE (no weights)")
        axes.set_xscale("logit")  # 0.9, 0.99, 0.999, 0.9999 equally spaced
        axes.xaxis.set_major_locator(FixedLocator(betas))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xticklabels([f"{beta:g}" for beta in betas])
        axes.set(xlabel="beta of the class weights (logit scale)", ylabel=ACCURACY_LABEL,
                 title=f"Accuracy against beta at {ratio(factor)}")
        axes.legend(fontsize=8)
    figure.suptitle(describe(rows))
    return figure


def plot_losses(rows, summary):
    """A grid of a few losses at one beta: each loss's mean accuracy (bar) and every seed's (dots), per factor."""
    factors = sorted({s.factor for s in summary})
    figure = Figure(figsize=(5.5 * len(factors), 4.4), layout="constrained")
    for axes, factor in zip(figure.subplots(1, len(factors), squeeze=False)[0], factors):
        settings = sorted((s for s in summary if s.factor == factor), key=lambda s: (s.loss != "CE", s.loss))
        for x, setting in enumerate(settings):
            seeds = [float(row["test_acc"]) for row in rows if setting_of(row) == setting]
            mean = summary[setting].acc
            axes.bar(x, mean, 0.6, color="tab:gray" if setting.loss == "CE" else "tab:blue")
            axes.plot([x] * len(seeds), seeds, "o", color="black", markersize=4)
            axes.annotate(f"{mean:.3f}", (x, mean), xytext=(0, 4), textcoords="offset points", ha="center",
                          fontsize=8)
        axes.set_xticks(range(len(settings)), [setting.name("\n") for setting in settings])
        low = min(float(row["test_acc"]) for row in rows)
        axes.set(ylabel=ACCURACY_LABEL, ylim=(max(0.0, low - 0.1), min(1.0, low + 0.2)),
                 title=f"The losses at {ratio(factor)} (bars: mean; dots: seeds)")
    figure.suptitle(describe(rows))
    return figure


def plot_class_counts(rows):
    """The training images per class at each imbalance factor of the rows: side-by-side bars, log scale."""
    factors = sorted({float(row["imb_factor"]) for row in rows})
    figure = Figure(figsize=(7.5, 3.8), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(factors)
    for i, factor in enumerate(factors):
        counts = class_counts(rows, factor)
        axes.bar([c + (i - (len(factors) - 1) / 2) * width for c in range(10)], counts, width,
                 label=f"{rows[0]['imb_type']}, {ratio(factor)} ({sum(counts):,} images)")
    axes.set_xticks(range(10), SHORT_CLASS_NAMES)
    axes.set_yscale("log")
    ticks = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    axes.yaxis.set_major_locator(FixedLocator(ticks))
    axes.yaxis.set_minor_locator(NullLocator())
    axes.set_yticklabels([str(tick) for tick in ticks])
    axes.set(xlabel="class (CIFAR-10 label order)", ylabel="training images per class (log scale)",
             ylim=(10, 8000), title=f"Training set of long-tailed CIFAR-10: {describe(rows)}")
    axes.legend()
    return figure


def markdown_tables(rows):
    """The summary as markdown: one table of every loss and beta, and the per-class table of CE vs the best."""
    summary = summarise(rows)
    lines = ["| imbalance | loss | beta | test acc (mean) | seeds | spread (std) |", "|---|---|---|---|---|---|"]
    for setting in sorted(summary, key=lambda s: (-s.factor, s.loss != "CE", s.loss, s.beta)):
        result = summary[setting]
        beta = f"{setting.beta:g}" if setting.loss != "CE" else "-"
        spread = f"{result.spread:.4f}" if result.seeds > 1 else "-"  # one seed says nothing of the spread
        lines.append(f"| {ratio(setting.factor)} | {setting.loss} | {beta} | {result.acc:.4f} | {result.seeds} | "
                     f"{spread} |")
    for factor in sorted({s.factor for s in summary}):
        best = best_class_balanced(summary, factor)
        if best is None or baseline(factor) not in summary:
            continue
        lines += ["", f"Per-class test accuracy at {ratio(factor)}:", "",
                  "| loss | " + " | ".join(SHORT_CLASS_NAMES) + " | mean |", "|---" * 12 + "|"]
        for setting in (baseline(factor), best):
            lines.append(f"| {setting.name(' ')} | "
                         + " | ".join(f"{v:.3f}" for v in summary[setting].per_class)
                         + f" | {summary[setting].acc:.4f} |")
    return "\n".join(lines)


def file_prefix(grid):
    return "longtail_" if grid == "cpu" else f"longtail_{grid}_"


def rows_of_grid(rows, grid):
    """The rows of `grid` that ran its own schedule (no --set overrides)."""
    return [row for row in rows if row["grid"] == grid and not row.get("overrides")]


def outputs(rows):
    """{file name: contents as bytes} of every plot and table of the rows (CSV dicts), per grid."""
    files = {}
    for grid in sorted({row["grid"] for row in rows}):
        chosen = rows_of_grid(rows, grid)
        if not chosen:
            continue
        prefix, summary = file_prefix(grid), summarise(chosen)
        files[prefix + "class_counts.png"] = png(plot_class_counts(chosen))
        if len({s.beta for s in summary if s.loss.startswith("CB")}) > 1:
            files[prefix + "beta_sweep.png"] = png(plot_beta_sweep(chosen, summary))
        else:  # one beta: the losses side by side
            files[prefix + "losses.png"] = png(plot_losses(chosen, summary))
        for factor in sorted({s.factor for s in summary}):
            figure = plot_per_class(chosen, summary, factor)
            if figure:
                files[f"{prefix}per_class_{round(1 / factor)}to1.png"] = png(figure)
        files[prefix + "tables.md"] = (markdown_tables(chosen) + "\n").encode("utf-8")
    return files
