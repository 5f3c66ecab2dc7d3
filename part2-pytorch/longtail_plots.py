"""Plots and tables of the long-tailed experiments, all drawn from results/longtail.csv (experiments.py --plot)."""
import csv
import os
import statistics

from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

from data.dataset_cifar import IMBALANCECIFAR10

CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def loss_label(row):
    """A readable name for the loss of a row: CE, CB-CE, CB-Focal g=1, CB-Sigmoid g=1."""
    if row["reweight"] not in ("True", True):
        return row["loss_type"] if float(row["gamma"]) == 0 else f"{row['loss_type']} g={float(row['gamma']):g}"
    if row["loss_type"] == "CE":
        return "CB-CE"
    kind = "CB-Focal" if row["loss_type"] == "Focal" else "CB-Sigmoid"
    return f"{kind} g={float(row['gamma']):g}"


def summarise(rows):
    """{(imb_factor, loss label, beta): dict(acc=mean test acc, spread=stdev or 0, seeds=n, per_class=means)}."""
    groups = {}
    for row in rows:
        key = (float(row["imb_factor"]), loss_label(row), float(row["beta"]))
        groups.setdefault(key, []).append(row)
    summary = {}
    for key, members in groups.items():
        accs = [float(r["test_acc"]) for r in members]
        summary[key] = dict(acc=statistics.mean(accs), spread=statistics.stdev(accs) if len(accs) > 1 else 0.0,
                            seeds=len(accs),
                            per_class=[statistics.mean(float(r[f"class_{c}"]) for r in members) for c in range(10)])
    return summary


def best_class_balanced(summary, factor):
    """The key of the class-balanced loss with the highest mean accuracy at `factor`."""
    keys = [k for k in summary if k[0] == factor and k[1].startswith("CB")]
    return max(keys, key=lambda k: summary[k]["acc"]) if keys else None


def plot_per_class(summary, factor, path):
    best = best_class_balanced(summary, factor)
    baseline = (factor, "CE", 0.0)
    if best is None or baseline not in summary:
        return None
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    axes = figure.subplots()
    width = 0.4
    for offset, key in ((-width / 2, baseline), (width / 2, best)):
        label = f"{key[1]}" + (f", beta {key[2]:g}" if key[1] != "CE" else "")
        label += f" (mean {summary[key]['acc']:.3f}, {summary[key]['seeds']} seed(s))"
        axes.bar([c + offset for c in range(10)], summary[key]["per_class"], width, label=label)
    axes.set_xticks(range(10), CLASS_NAMES)
    axes.set(ylabel="test accuracy", ylim=(0, 1),
             title=f"Per-class accuracy, long-tailed CIFAR-10 {round(1 / factor)}:1 (classes by training count)")
    axes.legend(loc="upper right", fontsize=8)
    figure.savefig(path, dpi=110)
    return path


def plot_beta_sweep(summary, path):
    factors = sorted({k[0] for k in summary})
    figure = Figure(figsize=(5.5 * len(factors), 4), layout="constrained")
    for axes, factor in zip(figure.subplots(1, len(factors), squeeze=False)[0], factors):
        labels = sorted({k[1] for k in summary if k[0] == factor and k[1].startswith("CB")})
        for label in labels:
            keys = sorted((k for k in summary if k[0] == factor and k[1] == label), key=lambda k: k[2])
            axes.plot([k[2] for k in keys], [summary[k]["acc"] for k in keys], marker="o", label=label)
        if (factor, "CE", 0.0) in summary:
            axes.axhline(summary[(factor, "CE", 0.0)]["acc"], color="black", linestyle="--", label="CE (no weights)")
        axes.set_xscale("logit")  # 0.9, 0.99, 0.999, 0.9999 equally spaced
        axes.set(xlabel="beta", ylabel="test accuracy", title=f"Accuracy against beta, {round(1 / factor)}:1")
        axes.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    return path


def plot_class_counts(path):
    figure = Figure(figsize=(7, 3.6), layout="constrained")
    axes = figure.subplots()
    for factor in (0.01, 0.1):
        counts = IMBALANCECIFAR10.get_img_num_per_cls(10, "exp", factor)
        axes.bar(range(10), counts, alpha=0.6, label=f"exp, {round(1 / factor)}:1 ({sum(counts):,} images)")
    axes.set_xticks(range(10), CLASS_NAMES)
    axes.set(yscale="log", ylabel="training images", title="Class counts of long-tailed CIFAR-10")
    axes.legend()
    figure.savefig(path, dpi=110)
    return path


def markdown_tables(rows):
    """The summary as markdown: one table of every loss and beta, and the per-class table of CE vs the best."""
    summary = summarise(rows)
    lines = ["| imbalance | loss | beta | test acc (mean) | seeds | spread (std) |", "|---|---|---|---|---|---|"]
    for key in sorted(summary, key=lambda k: (-k[0], k[1] != "CE", k[1], k[2])):
        s = summary[key]
        beta = f"{key[2]:g}" if key[1] != "CE" else "-"
        lines.append(f"| {round(1 / key[0])}:1 | {key[1]} | {beta} | {s['acc']:.4f} | {s['seeds']} | "
                     f"{s['spread']:.4f} |")
    for factor in sorted({k[0] for k in summary}):
        best = best_class_balanced(summary, factor)
        if best is None or (factor, "CE", 0.0) not in summary:
            continue
        lines += ["", f"Per-class test accuracy at {round(1 / factor)}:1:", "",
                  "| loss | " + " | ".join(CLASS_NAMES) + " | mean |", "|---" * 12 + "|"]
        for key in ((factor, "CE", 0.0), best):
            name = key[1] + (f" beta {key[2]:g}" if key[1] != "CE" else "")
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in summary[key]["per_class"])
                         + f" | {summary[key]['acc']:.4f} |")
    return "\n".join(lines)


def draw_all(csv_path, out_dir):
    """Every plot (and longtail_tables.md) into out_dir; returns the paths written."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    summary = summarise(rows)
    written = [plot_class_counts(os.path.join(out_dir, "longtail_class_counts.png")),
               plot_beta_sweep(summary, os.path.join(out_dir, "longtail_beta_sweep.png"))]
    for factor in sorted({k[0] for k in summary}):
        written.append(plot_per_class(summary, factor,
                                      os.path.join(out_dir, f"longtail_per_class_{round(1 / factor)}to1.png")))
    tables = os.path.join(out_dir, "longtail_tables.md")
    with open(tables, "w", encoding="utf-8") as f:
        f.write(markdown_tables(rows) + "\n")
    return [path for path in written if path] + [tables]
