"""A run's folder, runs/<config name>/, and the run's console rows.

metrics.csv gets one row per epoch (the numbers printed on the console), config.yaml the resolved settings,
learning_curves.png is drawn from metrics.csv, confusion_matrix.csv/.png hold the best epoch's confusion matrix,
and last.pth (see checkpointing.py) what --resume needs.
"""
import csv
import os

import numpy as np
import yaml
from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend
from matplotlib.ticker import MaxNLocator

from metrics import row_normalised

COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "test_acc", "seconds")
SHORT_CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def format_header():
    return (f"{'epoch':>5} {'lr':>8} {'train_loss':>10} {'train_acc':>9} {'test_acc':>8} {'sec':>6} | "
            + " ".join(f"{name:>5}" for name in SHORT_CLASS_NAMES))


def format_row(row, per_class):
    return (f"{row['epoch']:5d} {row['lr']:8.3g} {row['train_loss']:10.4f} {row['train_acc']:9.4f} "
            f"{row['test_acc']:8.4f} {row['seconds']:6.1f} | " + " ".join(f"{value:5.3f}" for value in per_class))


def format_per_class(class_names, per_class):
    """Per-class accuracy as lines of 'name accuracy' pairs, five classes a line."""
    pairs = [f"{name:>10} {value:.4f}" for name, value in zip(class_names, per_class)]
    return "\n".join("  ".join(pairs[start:start + 5]) for start in range(0, len(pairs), 5))


class RunLog:
    def __init__(self, folder, class_names):
        self.folder = folder
        self.class_names = tuple(class_names)
        self.columns = COLUMNS + tuple(f"acc_{name}" for name in self.class_names)
        self.metrics_path = os.path.join(folder, "metrics.csv")
        self.last_path = os.path.join(folder, "last.pth")

    def start(self, config_sections, note, after_epoch=0):
        """Write the resolved config (headed by the comment `note`), and start metrics.csv afresh or keep its
        rows up to `after_epoch`."""
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "config.yaml"), "w", encoding="utf-8") as f:
            f.write(f"# {note}\n")
            yaml.safe_dump(config_sections, f, sort_keys=False)
        # Rows after the resumed epoch come from an epoch whose last.pth was never written: it is redone.
        kept = [row for row in self.read_rows() if row["epoch"] <= after_epoch] if after_epoch else []
        with open(self.metrics_path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(kept)

    def append(self, row, per_class):
        values = dict(row, **{f"acc_{name}": float(value) for name, value in zip(self.class_names, per_class)})
        with open(self.metrics_path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, self.columns).writerow(values)

    def read_rows(self):
        if not os.path.exists(self.metrics_path):
            return []
        with open(self.metrics_path, newline="", encoding="utf-8") as f:
            return [{key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
                    for row in csv.DictReader(f)]

    def plot_learning_curves(self):
        """learning_curves.png from metrics.csv: loss, accuracies and learning rate against the epoch."""
        rows = self.read_rows()
        epochs = [row["epoch"] for row in rows]
        figure = Figure(figsize=(12, 3.6), layout="constrained")
        loss_axes, accuracy_axes, rate_axes = figure.subplots(1, 3)
        loss_axes.plot(epochs, [row["train_loss"] for row in rows], marker=".")
        loss_axes.set(title="training loss", xlabel="epoch")
        for column, label in (("train_acc", "train"), ("test_acc", "test")):
            accuracy_axes.plot(epochs, [row[column] for row in rows], marker=".", label=label)
        accuracy_axes.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
        accuracy_axes.legend()
        rate_axes.plot(epochs, [row["lr"] for row in rows], marker=".", drawstyle="steps-mid")
        rate_axes.set(title="learning rate", xlabel="epoch", yscale="log")  # the steps divide it by 10
        for axes in (loss_axes, accuracy_axes, rate_axes):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        figure.savefig(os.path.join(self.folder, "learning_curves.png"), dpi=100)

    def save_confusion(self, confusion, title):
        """confusion_matrix.csv (counts) and confusion_matrix.png (each true class's row normalised to 1)."""
        counts = np.asarray(confusion)
        with open(os.path.join(self.folder, "confusion_matrix.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *self.class_names])
            writer.writerows([name, *row] for name, row in zip(self.class_names, counts.tolist()))
        shares = np.asarray(row_normalised(confusion))
        figure = Figure(figsize=(7.5, 6.5), layout="constrained")
        axes = figure.subplots()
        image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (true, predicted), share in np.ndenumerate(shares):
            axes.text(predicted, true, f"{share:.2f}", ha="center", va="center", fontsize=7,
                      color="white" if share > 0.5 else "black")
        ticks = range(len(self.class_names))
        axes.set_xticks(ticks, self.class_names, rotation=45, ha="right")
        axes.set_yticks(ticks, self.class_names)
        axes.set(xlabel="predicted class", ylabel="true class", title=title)
        figure.colorbar(image, ax=axes, label="share of the true class")
        figure.savefig(os.path.join(self.folder, "confusion_matrix.png"), dpi=100)
