"""A run's folder, runs/<name>/ (default name: the config's), and the run's console rows.

metrics.csv gets one row per epoch (the numbers printed on the console), config.yaml the resolved settings,
learning_curves.png is drawn from metrics.csv's rows, confusion_matrix.csv/.png hold the best epoch's confusion
matrix, best.pth the best weights and last.pth (see checkpointing.py) what --resume needs.
"""
import csv
import math
import os

import numpy as np
import yaml
from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend
from matplotlib.ticker import MaxNLocator

import files
from data import SHORT_CLASS_NAMES
from metrics import row_normalised

COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "test_acc", "seconds")


def format_header():
    # the test accuracy under the kit's name for it, Prec@1 (metrics.csv keeps test_acc)
    return (f"{'epoch':>5} {'lr':>8} {'train_loss':>10} {'train_acc':>9} {'Prec@1':>8} {'sec':>6} | "
            + " ".join(f"{name:>5}" for name in SHORT_CLASS_NAMES))


def format_row(row, per_class):
    """An epoch's console line; '-' for the test figures of an epoch that was not tested (test_every)."""
    def shown(value, width, digits):
        return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.{digits}f}"
    return (f"{row['epoch']:5d} {row['lr']:8.3g} {row['train_loss']:10.4f} {row['train_acc']:9.4f} "
            f"{shown(row['test_acc'], 8, 4)} {row['seconds']:6.1f} | "
            + " ".join(shown(value, 5, 3) for value in per_class))


def format_per_class(class_names, per_class):
    """Per-class accuracy as lines of 'name accuracy' pairs, five classes a line."""
    pairs = [f"{name:>10} {value:.4f}" for name, value in zip(class_names, per_class)]
    return "\n".join("  ".join(pairs[start:start + 5]) for start in range(0, len(pairs), 5))


def shown_text(text):
    """`text` with any byte of a file name that is not UTF-8 (Python keeps it as a lone surrogate, which matplotlib
    cannot draw) shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class RunBusy(Exception):
    """The run folder cannot be used: a live run holds it, or it lies in or holds another run's folder; the
    message is one line."""


def is_run_folder(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in ("config.yaml", "metrics.csv"))


class RunLog:
    """A run's folder. Every file in it is written atomically, and while a run uses the folder it holds a lock
    beside it (runs/.<name>.lock), released however the run ends, so a second run of the same name is refused."""

    def __init__(self, folder, class_names):
        self.folder = folder
        self.class_names = tuple(class_names)
        self.columns = COLUMNS + tuple(f"acc_{name}" for name in self.class_names)
        self.metrics_path = os.path.join(folder, "metrics.csv")
        self.last_path = os.path.join(folder, "last.pth")
        self.best_path = os.path.join(folder, "best.pth")
        parent, name = os.path.split(os.path.normpath(folder))
        self._lock = files.FileLock(os.path.join(parent, f".{name}.lock"), wait=False)
        self.rows = []

    def __enter__(self):
        if not is_run_folder(self.folder):  # a new run inside another's folder: refused before its lock goes there
            self._check_not_inside_a_run()
        try:
            self._lock.__enter__()
        except files.Busy as busy:
            raise RunBusy(f"{self.folder} is in use by another run ({busy}); wait for it to end, or give this "
                          f"run another folder with --name") from None
        return self

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def set_aside(self):
        """Move an earlier run's files to the first free <folder>.N, so a fresh run starts in an empty folder and
        never leaves an older last.pth behind; returns where they went (None when there was nothing). RunBusy,
        moving nothing, when the folder lies in another run's folder or holds one (--name a/b beside --name a):
        that run would be moved too, or later."""
        self._check_not_nested()
        if not (os.path.isdir(self.folder) and os.listdir(self.folder)):
            return None
        files.remove_leftovers(os.path.join(self.folder, "*"))  # a killed write's: not worth keeping aside
        number = 1
        while os.path.lexists(f"{self.folder}.{number}"):  # a link to nothing is in the way too
            number += 1
        files.replace_when_free(self.folder, f"{self.folder}.{number}")  # Windows: a metrics.csv open in a sheet
        return f"{self.folder}.{number}"

    def _check_not_nested(self):
        self._check_not_inside_a_run()
        inner = next((os.path.join(top, name) for top, names, _ in os.walk(self.folder) for name in names
                      if is_run_folder(os.path.join(top, name))), None)
        if inner is not None:
            raise RunBusy(f"{self.folder} holds another run, {inner}, which a fresh run here would move aside; "
                          f"give this run another name with --name")

    def _check_not_inside_a_run(self):
        parent = os.path.dirname(os.path.normpath(self.folder))
        while os.path.dirname(parent) not in ("", parent):  # up to runs/, not past it
            if is_run_folder(parent):
                raise RunBusy(f"{parent} holds a run, and this one would go inside it; give this run a name "
                              f"outside it with --name")
            parent = os.path.dirname(parent)

    def start(self, config_sections, note, rows=()):
        """Write the resolved config (headed by the comment `note`) and metrics.csv with `rows` (those of the
        finished epochs when resuming); removes what killed writes left."""
        os.makedirs(self.folder, exist_ok=True)
        files.remove_leftovers(os.path.join(self.folder, "*"))  # we hold the lock: no live writer is here

        def write_config(f):
            f.write(f"# {note}\n")
            yaml.safe_dump(config_sections, f, sort_keys=False)
        files.write_atomically(os.path.join(self.folder, "config.yaml"), write_config, "w")
        self.rows = list(rows)
        self.write_metrics()

    def add(self, row, per_class):
        """Keep an epoch's row (the console's numbers and the per-class accuracies); write_metrics saves them."""
        self.rows.append(dict(row, **{f"acc_{name}": float(value) for name, value in zip(self.class_names, per_class)}))

    def write_metrics(self):
        def write(f):
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows({key: "" if isinstance(value, float) and math.isnan(value) else value
                              for key, value in row.items()} for row in self.rows)  # untested: blank
        files.write_atomically(self.metrics_path, write, "w")

    def plot_learning_curves(self, title):
        """learning_curves.png from the rows of metrics.csv: loss, accuracies and learning rate by epoch."""
        epochs = [row["epoch"] for row in self.rows]
        figure = Figure(figsize=(12, 3.8), layout="constrained")
        figure.suptitle(shown_text(title))
        loss_axes, accuracy_axes, rate_axes = figure.subplots(1, 3)
        loss_axes.plot(epochs, [row["train_loss"] for row in self.rows], marker=".")
        loss_axes.set(title="training loss", ylabel="loss (mean per training image)")
        for column, label in (("train_acc", "train"), ("test_acc", "test")):
            points = [(row["epoch"], row[column]) for row in self.rows if not math.isnan(row[column])]
            accuracy_axes.plot(*zip(*points), marker=".", label=label)
        accuracy_axes.set(title="accuracy", ylabel="accuracy (fraction of images)", ylim=(0, 1))
        accuracy_axes.legend()
        rate_axes.plot(epochs, [row["lr"] for row in self.rows], marker=".", drawstyle="steps-mid")
        rate_axes.set(title="learning rate", ylabel="learning rate (log scale)", yscale="log")
        for axes in (loss_axes, accuracy_axes, rate_axes):
            axes.set(xlabel="epoch", xlim=(min(epochs) - 0.5, max(epochs) + 0.5))
            axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        files.write_atomically(os.path.join(self.folder, "learning_curves.png"),
                               lambda f: figure.savefig(f, format="png", dpi=100))
        return figure

    def save_confusion(self, confusion, title):
        """confusion_matrix.csv (counts) and confusion_matrix.png (each true class's row normalised to 1)."""
        counts = np.asarray(confusion)

        def write_counts(f):
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *self.class_names])
            writer.writerows([name, *row] for name, row in zip(self.class_names, counts.tolist()))
        files.write_atomically(os.path.join(self.folder, "confusion_matrix.csv"), write_counts, "w")
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
        axes.set(xlabel="predicted class", ylabel="true class", title=shown_text(title))
        figure.colorbar(image, ax=axes, label="share of the true class")
        files.write_atomically(os.path.join(self.folder, "confusion_matrix.png"),
                               lambda f: figure.savefig(f, format="png", dpi=100))
