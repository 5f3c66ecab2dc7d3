"""The shipped long-tail results agree with each other: results/longtail_tables.md and REPORT.md's tables are
what results/longtail.csv gives."""
import os
import re
import unittest

import results_csv
import grids
import longtail_plots
from data import IMBALANCECIFAR10
from tests.helpers import PART2

RESULTS = os.path.join(PART2, "results", "longtail.csv")
REPORT = os.path.join(os.path.dirname(PART2), "REPORT.md")
REPORT_LOSSES = {  # REPORT's name of a loss -> longtail_plots.loss_label
    "CB softmax CE": "CB-CE", "CB softmax focal, gamma 0.5": "CB-Focal g=0.5", "CB softmax focal, gamma 1":
    "CB-Focal g=1", "CB softmax focal, gamma 2": "CB-Focal g=2", "CB sigmoid focal, gamma 1": "CB-Sigmoid g=1",
}


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def report_table(text, header, after="", with_header=False):
    """The rows (lists of cells) of the first markdown table whose header line starts with `header`, below the
    first line that starts with `after`; the header row first when with_header, else left out."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(after))
    start = next(i for i, line in enumerate(lines) if i >= first and line.startswith(header))
    rows = [cells(lines[start])] if with_header else []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(cells(line))
    return rows


def seed_columns(header):
    """{seed as in the CSV ('0', '1', ...): column index} of a table's 'seed N' columns."""
    return {name.split()[1]: i for i, name in enumerate(header) if name.startswith("seed ")}


class LossLabels(unittest.TestCase):
    def test_each_loss_its_own_label(self):
        for reweight, loss_type, gamma, label in (("False", "CE", "0.0", "CE"), ("True", "CE", "0.0", "CB-CE"),
                                                  ("False", "Focal", "1.0", "Focal g=1"),
                                                  ("False", "Focal", "2.0", "Focal g=2"),
                                                  ("TRUE", "Focal", "0.5", "CB-Focal g=0.5"),  # a spreadsheet's
                                                  ("True", "SigmoidFocal", "1", "CB-Sigmoid g=1")):
            with self.subTest(label=label):
                row = dict(reweight=reweight, loss_type=loss_type, gamma=gamma)
                self.assertEqual(longtail_plots.loss_label(row), label)


class GridAndReport(unittest.TestCase):
    """The rows of one grid (GRID), their summary and REPORT.md's text."""
    GRID = None

    @classmethod
    def setUpClass(cls):
        cls.rows = longtail_plots.rows_of_grid(results_csv.read_all(RESULTS), cls.GRID)
        cls.summary = longtail_plots.summarise(cls.rows)
        with open(REPORT, encoding="utf-8") as f:
            cls.report = f.read()

    def assert_seeds_and_mean(self, header, row_cells, label, key):
        """A table row's 'seed N' cells are the CSV's test accuracies of that loss, one per seed (none missing),
        and its 'mean ± spread' cell is their summary."""
        seeds = {row["seed"]: float(row["test_acc"]) for row in self.rows if longtail_plots.loss_label(row) == label}
        self.assertEqual({seed: float(row_cells[i]) for seed, i in seed_columns(header).items()}, seeds, label)
        s = self.summary[key]
        self.assertEqual(row_cells[header.index("mean ± spread")], f"{s.acc:.4f} ± {s.spread:.4f}", label)


class ShippedResults(GridAndReport):
    GRID = "cpu"

    def test_the_committed_tables_are_those_of_the_csv(self):
        with open(os.path.join(PART2, "results", "longtail_tables.md"), "rb") as f:
            committed = f.read()
        self.assertEqual(longtail_plots.outputs(results_csv.read_all(RESULTS))["longtail_tables.md"].decode(),
                         committed.decode())

    def test_the_reports_beta_sweep_is_that_of_the_csv(self):
        for factor, ratio in ((0.01, "100:1"), (0.1, "10:1")):
            rows = report_table(self.report, f"| {ratio} | beta 0.9 |")
            self.assertEqual(len(rows), len(REPORT_LOSSES) + 1)
            for name, *cells in rows:
                keys = ([(factor, "CE", 0.0)] if name == "plain CE (no weights)" else
                        [(factor, REPORT_LOSSES[name], beta) for beta in grids.BETAS])
                for key, cell in zip(keys, cells):
                    s = self.summary[key]
                    seeds = f" ({s.seeds} seeds)" if s.seeds > 1 else ""
                    self.assertEqual(cell, f"{s.acc:.4f}{seeds}", (ratio, name, key))

    def test_the_reports_headline_is_that_of_the_csv(self):
        rows = report_table(self.report, "| imbalance | CE |")
        self.assertEqual(len(rows), 2)  # 100:1 and 10:1
        for factor, (ratio, ce, best, gain, _) in zip((0.01, 0.1), rows):
            plain, focal = self.summary[(factor, "CE", 0.0)], self.summary[(factor, "CB-Focal g=1", 0.9999)]
            self.assertEqual(ratio, f"{round(1 / factor)}:1")
            self.assertEqual(ce, f"{plain.acc:.4f} ± {plain.spread:.4f}")
            self.assertEqual(best, f"**{focal.acc:.4f} ± {focal.spread:.4f}**")
            self.assertEqual(gain, f"**+{100 * (focal.acc - plain.acc):.1f} points**")

    def test_the_reports_per_class_table_is_that_of_the_csv(self):
        counts, ce, best = report_table(self.report, "| loss | plane |", after="**Per class at 100:1**")[:3]
        self.assertEqual(counts[1:11], [str(n) for n in IMBALANCECIFAR10.get_img_num_per_cls(10, "exp", 0.01)])
        for cells, key in ((ce, (0.01, "CE", 0.0)), (best, longtail_plots.best_class_balanced(self.summary, 0.01))):
            s = self.summary[key]
            self.assertEqual(cells[1:], [f"{v:.3f}" for v in s.per_class] + [f"{s.acc:.4f}"], cells[0])
        self.assertIn("focal, gamma 2, beta 0.9999", re.search(r"\*\*Per class at 100:1\*\*.*", self.report)[0])



class ShippedResNet32Results(GridAndReport):
    """REPORT's ResNet-32 tables are the resnet32-cpu grid's rows."""
    GRID = "resnet32-cpu"
    LOSSES = {"CE": "CE", "CB softmax focal": "CB-Focal g=1", "CB sigmoid focal": "CB-Sigmoid g=1"}

    def test_the_seeds_and_means(self):
        header, *table = report_table(self.report, "| loss (beta 0.9999, gamma 1) | seed 0 |", with_header=True)
        self.assertEqual(len(table), 3)
        for row_cells in table:
            label = next(label for prefix, label in self.LOSSES.items() if row_cells[0].startswith(prefix))
            self.assert_seeds_and_mean(header, row_cells, label, (0.01, label, 0.0 if label == "CE" else 0.9999))

    def test_the_per_class_means(self):
        counts, *table = report_table(self.report, "| loss | plane |", after="### ResNet-32 at 100:1")
        self.assertEqual(counts[1:11], [str(n) for n in IMBALANCECIFAR10.get_img_num_per_cls(10, "exp", 0.01)])
        self.assertEqual(len(table), 3)
        for name, *cells in table:
            label = self.LOSSES[name]
            s = self.summary[(0.01, label, 0.0 if label == "CE" else 0.9999)]
            self.assertEqual(cells, [f"{v:.3f}" for v in s.per_class] + [f"{s.acc:.4f}"], name)


class ShippedDeferredReweightingResults(GridAndReport):
    """REPORT's deferred re-weighting tables are the resnet32-cpu-drw grid's rows."""
    GRID = "resnet32-cpu-drw"
    LOSSES = {"CB softmax focal": "CB-Focal g=1", "CB sigmoid focal": "CB-Sigmoid g=1"}

    def label(self, name):
        return next(label for prefix, label in self.LOSSES.items() if name.startswith(prefix))

    def test_the_seeds_means_and_per_class(self):
        header, *table = report_table(self.report, "| loss, weights for the last 10 of 50 epochs |",
                                      with_header=True)
        per_class = report_table(self.report, "| per class, weights deferred (mean of the seeds) |")
        self.assertEqual([self.label(row[0]) for row in table], list(self.LOSSES.values()))
        self.assertEqual([self.label(row[0]) for row in per_class], list(self.LOSSES.values()))
        for row_cells, (_, *per_class_cells) in zip(table, per_class):
            label = self.label(row_cells[0])
            self.assert_seeds_and_mean(header, row_cells, label, (0.01, label, 0.9999))
            s = self.summary[(0.01, label, 0.9999)]
            self.assertEqual(per_class_cells, [f"{v:.3f}" for v in s.per_class] + [f"{s.acc:.4f}"], label)


if __name__ == "__main__":
    unittest.main()
