"""scripts/mymodel_record.py: its timed runs train exactly what main.py trains, and its verdicts."""
import contextlib
import csv
import io
import os
import subprocess
import sys
import tempfile
import unittest

from tests.helpers import PART2, ScratchRun, write_cifar_folder

sys.path.insert(0, os.path.join(PART2, "scripts"))
import mymodel_record  # noqa: E402

CONFIG = """
Train: {batch_size: 50, learning_rate: 0.1, reg: 0.0005, epochs: 2, steps: [6, 8], warmup: 1, momentum: 0.9,
        nesterov: true, lr_schedule: linear, lookahead: true}
network: {model: MyModel-GPU}  # the whitened stem is fitted in the timed run, as main.py fits it
data: {imbalance: regular, save_best: false, data_dir: cifar-10-batches-py, crop_padding: 2, flips: alternate}
loss: {loss_type: CE, label_smoothing: 0.2}
"""


def last_row(scratch, name):
    with open(scratch.path("runs", name, "metrics.csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))[-1]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class RecordRuns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = ScratchRun(CONFIG)
        for seed, epochs in ((0, 1), (1, 2)):
            status, _, err = cls.scratch.main("--seed", str(seed), "--epochs", str(epochs),
                                              "--name", f"s{seed}e{epochs}")
            assert status == 0, err
        cls.status, cls.out, cls.err = cls.record("--seeds", "2", "--epochs", "1", "2", "--out", "out")

    @classmethod
    def tearDownClass(cls):
        cls.scratch.close()

    @classmethod
    def record(cls, *arguments):
        out, err = io.StringIO(), io.StringIO()
        here = os.getcwd()
        os.chdir(cls.scratch.folder)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = mymodel_record.main(["--config", cls.scratch.config, "--device", "cpu", *arguments])
                except SystemExit as stop:
                    status = stop.code
        finally:
            os.chdir(here)
        return status, out.getvalue(), err.getvalue()

    def rows(self):
        with open(self.scratch.path("out", "record.csv"), newline="", encoding="utf-8") as f:
            return {(int(row["epochs"]), int(row["seed"])): row for row in csv.DictReader(f)}

    def test_each_timed_run_is_the_main_py_run_of_its_seed_and_length(self):
        self.assertEqual(self.status, 0, self.err)
        rows = self.rows()
        self.assertEqual(sorted(rows), [(1, 0), (1, 1), (2, 0), (2, 1)])
        for seed, epochs in ((0, 1), (1, 2)):  # (0, 1) is also the warm-up's seed and length: nothing carries over
            expected = last_row(self.scratch, f"s{seed}e{epochs}")
            self.assertAlmostEqual(float(rows[epochs, seed]["test_acc"]), float(expected["test_acc"]), places=4)
            self.assertAlmostEqual(float(rows[epochs, seed]["train_loss"]), float(expected["train_loss"]), places=4)
        self.assertNotEqual(rows[2, 0]["train_loss"], rows[2, 1]["train_loss"])  # the seed changes the run
        for row in rows.values():
            self.assertGreater(float(row["train_seconds"]), 0)

    def test_the_table_has_a_row_per_run_length(self):
        with open(self.scratch.path("out", "record.md"), encoding="utf-8") as f:
            table = f.read()
        self.assertTrue(table.startswith("MyModel-GPU on cpu, torch "), table)  # the tiny config's model
        self.assertIn("warm-up", table)
        self.assertRegex(table, r"\| 1 \| 2 \| 0\.\d{4} ± 0\.\d{4} \|")
        self.assertRegex(table, r"\| 2 \| 2 \| 0\.\d{4} ± 0\.\d{4} \|")
        self.assertIn(table, self.out)

    def test_no_run_past_the_budget(self):
        status, out, _ = self.record("--seeds", "1", "--seconds", "0")
        self.assertEqual(status, 1)
        self.assertIn("no run finished", out)

    def test_bad_input_is_one_line_and_status_2(self):
        earlier = {name: read_bytes(self.scratch.path("out", name)) for name in ("record.csv", "record.md")}
        for arguments, message in ((["--set", "batch_size=0"], "batch_size"),
                                   (["--set", "data_dir=missing"], "missing"),
                                   (["--seeds", "0"], "--seeds"),
                                   (["--out", "out"], "out already holds record.csv and record.md"),  # kept
                                   (["--out", "tiny.yaml"], "in the way"),  # a file where the folder goes
                                   (["--out", " "], "--out: an empty path"),
                                   (["--config", ""], "--config: an empty path")):
            status, out, err = self.record(*arguments)
            self.assertEqual(status, 2, arguments)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn(message, err)
            self.assertNotIn("warm-up", out)  # refused before any training
        self.assertEqual({name: read_bytes(self.scratch.path("out", name)) for name in earlier}, earlier)


class GpuJobRecordStep(unittest.TestCase):
    def test_the_gpu_job_runs_the_record_and_tables_it(self):
        with tempfile.TemporaryDirectory() as folder:
            data, _, _ = write_cifar_folder(os.path.join(folder, "data"), train_per_class=10, test_per_class=5)
            out = os.path.join(folder, "out")
            command = [sys.executable, os.path.join(PART2, "scripts", "gpu_speed_check.py"), out, "--device", "cpu",
                       "--steps", "record", "--record", "MyModel-GPU:1", "VanillaCNN:2,1", "--record-seeds", "2",
                       "--data-dir", data]
            done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(os.path.join(out, "table.md"), encoding="utf-8") as f:
                table = f.read()
            for model, lengths in (("MyModel-GPU", [1]), ("VanillaCNN", [2, 1])):
                row = [line for line in table.splitlines() if line.startswith(f"| record {model} | 0 |")]
                self.assertEqual(len(row), 1, done.stdout)
                runs = "; ".join(rf"{e} epochs x 2: accuracy 0\.\d{{4}} ± 0\.\d{{4}}, [^;]*" for e in lengths)
                self.assertRegex(row[0], rf"warm-up [\d.]+ s; {runs} \|$")
                with open(os.path.join(out, f"record_{model}", "record.csv"), newline="", encoding="utf-8") as f:
                    rows = list(csv.DictReader(f))
                self.assertEqual([int(row["epochs"]) for row in rows], [e for e in lengths for _ in range(2)])
                with open(os.path.join(out, f"record_{model}", "record.md"), encoding="utf-8") as f:
                    self.assertIn(f"{model} on", f.read())

    def test_a_bad_record_spec_is_one_line(self):
        for spec in ("Nope:10", "MyModel-GPU", "MyModel-GPU:0", "MyModel-GPU:10,x"):
            done = subprocess.run([sys.executable, os.path.join(PART2, "scripts", "gpu_speed_check.py"), "out",
                                   "--record", spec], capture_output=True, text=True, cwd=PART2)
            self.assertEqual((done.returncode, done.stdout), (2, ""), spec)
            self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
            self.assertIn("argument --record:", done.stderr)
            self.assertFalse(os.path.exists(os.path.join(PART2, "out")))


    def test_an_out_that_cannot_be_a_folder_or_a_budget_past_a_day_is_one_line(self):
        with tempfile.NamedTemporaryFile(dir=PART2) as taken:
            for arguments, message in (([taken.name], "in the way"), ([" "], "an empty path"),
                                       (["out", "--seconds", "inf"], "at most 86400")):
                done = subprocess.run([sys.executable, os.path.join(PART2, "scripts", "gpu_speed_check.py"),
                                       *arguments], capture_output=True, text=True, cwd=PART2)
                self.assertEqual((done.returncode, done.stdout), (2, ""), arguments)
                self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
                self.assertIn(message, done.stderr)
            self.assertFalse(os.path.exists(os.path.join(PART2, "out")))


class WrongFolder(unittest.TestCase):
    def test_run_from_the_repository_root_names_part2_and_writes_nothing(self):
        root = os.path.dirname(PART2)
        before = sorted(os.listdir(root))
        result = subprocess.run([sys.executable, os.path.join(PART2, "scripts", "mymodel_record.py"),
                                 "--device", "cpu", "--out", "record-here"],
                                cwd=root, capture_output=True, text=True, timeout=120)
        self.assertEqual((result.returncode, result.stdout), (2, ""))
        self.assertEqual(result.stderr.splitlines(), [
            "mymodel_record.py: error: run mymodel_record.py from part2-pytorch: cd part2-pytorch (the kit's paths "
            "configs/, data/, checkpoints/, runs/ and results/ are relative to it)"])
        self.assertEqual(sorted(os.listdir(root)), before)


class Verdicts(unittest.TestCase):
    def test_a_point_beats_the_records_it_is_both_faster_and_more_accurate_than(self):
        self.assertEqual(mymodel_record.verdict(0.95, 2.0), "beats airbench94, airbench95, airbench96")
        self.assertEqual(mymodel_record.verdict(0.925, 4.0), "beats airbench95")  # not 93.3%
        self.assertEqual(mymodel_record.verdict(0.935, 12.0), "beats airbench96")
        self.assertEqual(mymodel_record.verdict(0.925, 4.95), "90.8% in under 10 s")  # 4.9 s is the point, not 4.97
        self.assertEqual(mymodel_record.verdict(0.915, 6.0), "90.8% in under 10 s")
        self.assertEqual(mymodel_record.verdict(0.915, 10.0), "below the goal")
        self.assertEqual(mymodel_record.verdict(0.900, 1.0), "below the goal")


if __name__ == "__main__":
    unittest.main()
