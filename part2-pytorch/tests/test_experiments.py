import contextlib
import csv
import io
import os
import tempfile
import unittest

import experiments
import longtail_plots
from tests.helpers import write_cifar_folder


def fake_row(run, acc):
    return dict(run, test_acc=acc, seconds=1.0, **{f"class_{c}": acc for c in range(10)})


class Grid(unittest.TestCase):
    def test_cpu_grid_covers_every_loss_beta_factor_and_headline_seeds(self):
        runs = experiments.grid_runs("cpu")
        # per factor: CE + 4 betas x (CB-CE, 3 focal gammas, sigmoid) = 21, plus 2 more seeds of 2 headline rows
        self.assertEqual(len(runs), 2 * (21 + 4))
        self.assertEqual(len({experiments.row_key(run) for run in runs}), len(runs))
        focal = [r for r in runs if r["loss_type"] == "Focal" and r["imb_factor"] == 0.01]
        self.assertEqual(sorted({(r["beta"], r["gamma"]) for r in focal}),
                         sorted((b, g) for b in experiments.BETAS for g in (0.5, 1.0, 2.0)))
        headline = [r for r in runs if r["loss_type"] == "Focal" and r["beta"] == 0.9999 and r["gamma"] == 1.0]
        self.assertEqual(sorted(r["seed"] for r in headline), [0, 0, 1, 1, 2, 2])

    def test_rows_read_back_from_csv_have_the_same_key(self):
        runs = experiments.grid_runs("cpu")[:3]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sub", "longtail.csv")
            experiments.write_rows(path, [fake_row(run, 0.5) for run in runs])
            rows = experiments.read_rows(path)
            self.assertFalse(os.path.exists(path + ".tmp"))
        self.assertEqual([experiments.row_key(r) for r in rows], [experiments.row_key(r) for r in runs])
        self.assertEqual(list(rows[0])[:10], ["grid", "model", "imb_type", "imb_factor", "loss_type", "reweight",
                                              "beta", "gamma", "seed", "epochs"])


class MicroGrid(unittest.TestCase):
    """The runner on two runs of tiny synthetic data, in a worker process: it writes rows, then skips them."""

    def run_cli(self, *arguments):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = experiments.main_cli(list(arguments))
        return status, out.getvalue()

    def test_writes_then_skips(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_cifar_folder(tmp)[0]
            results = os.path.join(tmp, "results", "longtail.csv")
            here = os.getcwd()
            os.chdir(tmp)  # the run folders go to tmp/runs
            try:
                status, out = self.run_cli("--grid", "micro", "--workers", "1", "--data-dir", folder,
                                           "--results", results, "--set", "channels_last=true")
                self.assertEqual(status, 0, out)
                self.assertIn("2 runs to do", out)
                with open(results, newline="") as f:
                    rows = list(csv.DictReader(f))
                self.assertEqual(len(rows), 2)
                for row in rows:
                    self.assertTrue(0 <= float(row["test_acc"]) <= 1)
                    per_class = [float(row[f"class_{c}"]) for c in range(10)]
                    self.assertAlmostEqual(sum(per_class) / 10, float(row["test_acc"]), places=3)  # balanced test set
                status, out = self.run_cli("--grid", "micro", "--data-dir", folder, "--results", results)
                self.assertIn("0 runs to do, 2 already", out)
                experiments.write_rows(results, rows[:1])  # as if interrupted after one run
                status, out = self.run_cli("--grid", "micro", "--list", "--results", results)
                self.assertEqual([line.split()[0] for line in out.splitlines()], ["done", "todo"])
            finally:
                os.chdir(here)

    def test_a_bad_setting_stops_before_any_run(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status, out = self.run_cli("--grid", "micro", "--set", "compile=fastest")
        self.assertEqual(status, 2)
        self.assertIn("network.compile = 'fastest' is not allowed", err.getvalue())
        self.assertNotIn("runs to do", out)


class Plots(unittest.TestCase):
    def test_tables_and_plots_from_a_csv(self):
        runs = [r for r in experiments.grid_runs("cpu") if r["imb_factor"] == 0.01]
        rows = [fake_row(run, 0.6 if run["loss_type"] == "Focal" and run["beta"] == 0.999 else 0.5) for run in runs]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "longtail.csv")
            experiments.write_rows(path, rows)
            written = longtail_plots.draw_all(path, tmp)
            self.assertEqual(len(written), 4)  # counts, beta sweep, per-class at 100:1, tables
            for file in written:
                self.assertGreater(os.path.getsize(file), 500)
            with open(os.path.join(tmp, "longtail_tables.md")) as f:
                tables = f.read()
        summary = longtail_plots.summarise(rows)
        best = longtail_plots.best_class_balanced(summary, 0.01)
        self.assertEqual((best[1], best[2]), ("CB-Focal g=0.5", 0.999))  # the first of the 0.6 rows by name
        self.assertEqual(summary[(0.01, "CE", 0.0)]["seeds"], 3)
        self.assertIn("| 100:1 | CE | - | 0.5000 | 3 | 0.0000 |", tables)

    def test_class_counts_without_data(self):
        from data import IMBALANCECIFAR10
        self.assertEqual(IMBALANCECIFAR10.get_img_num_per_cls(10, "exp", 0.01),
                         [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])


if __name__ == "__main__":
    unittest.main()
