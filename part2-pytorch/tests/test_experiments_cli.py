"""experiments.py as users run it: in a child process, from its folder or from the wrong one, killed mid-grid."""
import csv
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import torch

import results_csv
import grids
from tests.helpers import PART2, alive, python_handles_ctrl_c, write_cifar_folder

SCRIPT = os.path.join(PART2, "experiments.py")
setUpModule = python_handles_ctrl_c  # Python's Ctrl-C handler, even in a suite started in the background


def environment(**extra):
    return dict(os.environ, OMP_NUM_THREADS="1", **extra)


def run_script(*arguments, cwd=PART2):
    return subprocess.run([sys.executable, SCRIPT, *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=environment())


def children_of(pid):
    """Pids of the live processes whose parent is `pid` (Linux /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(name))
    return found


class CommandLine(unittest.TestCase):
    def test_list_has_a_header_and_aligned_columns(self):
        result = run_script("--grid", "cpu", "--list", "--results", os.path.join(tempfile.gettempdir(), "none.csv"))
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["status"] + grids.KEY_COLUMNS)
        self.assertEqual(len(lines), 1 + 50)
        starts = {tuple(i for i in range(1, len(line)) if line[i - 1] == " " and line[i] != " ") for line in lines[1:]}
        self.assertEqual(len(starts), 1, "columns do not line up")  # every column starts at the same place

    def test_a_closed_pipe_ends_quietly(self):
        if shutil.which("head") and os.name == "posix":  # cmd.exe, the shell=True of Windows, has no head
            head = subprocess.run(f'"{sys.executable}" experiments.py --grid cpu --list | head -1', shell=True,
                                  cwd=PART2, capture_output=True, text=True, timeout=120, env=environment())
            self.assertEqual(head.stdout.split(), ["status"] + grids.KEY_COLUMNS)
            self.assertEqual(head.stderr, "")
        # the reader gone before anything is written: the write itself fails
        child = subprocess.Popen([sys.executable, SCRIPT, "--grid", "cpu", "--list"], cwd=PART2,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment())
        child.stdout.close()
        with child.stderr:
            error = child.stderr.read().decode()
        self.assertEqual((child.wait(120), error), (1, ""))

    def test_help_shows_the_defaults_runs_nothing_and_hides_the_test_grid(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_script("--grid", "cpu", "--plot", "--help", cwd=tmp)
            self.assertEqual(os.listdir(tmp), [])
        self.assertEqual(result.returncode, 0, result.stderr)
        text = " ".join(result.stdout.split())
        options = ("--grid", "--workers", "--set", "--shard", "--data-dir", "--results", "--list", "--plot")
        self.assertTrue(all(option in text for option in options))
        self.assertEqual(text.count("(default:"), 4)  # --workers and --shard; --data-dir and --results in words
        self.assertIn("(default: 0)", text)
        self.assertIn("(default: 1/1)", text)
        self.assertIn("(default: the config's data_dir)", text)
        self.assertIn("(none given: --plot alone)", text)
        self.assertNotIn("None", text)
        self.assertNotIn("micro", result.stdout)
        result = run_script("--grid", "micro", "--list")
        self.assertEqual(result.returncode, 2)
        self.assertIn("invalid choice: 'micro'", result.stderr)

    def test_a_mistyped_flag_or_choice_gets_one_line_with_a_suggestion(self):
        for typed, meant in (("--gird", "--grid"), ("--lis", "--list"), ("--result=x.csv", "--results"),
                             ("--grid=cpx", "cpu"), ("--grid=resnet32", "resnet32-cpu")):
            result = run_script(typed, "cpu")
            self.assertEqual(result.returncode, 2)
            self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
            self.assertIn(f"did you mean {meant}?", result.stderr)
            self.assertEqual(result.stdout, "")

    def test_a_bad_shard_is_one_line(self):
        for text in ("3/2", "0/2", "two"):
            result = run_script("--grid", "cpu", "--list", "--shard", text)
            self.assertEqual(result.returncode, 2)
            self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
            self.assertIn("argument --shard", result.stderr)

    def test_run_from_the_wrong_folder_names_the_right_one(self):
        expected = "experiments.py: error: run experiments.py from its own folder: cd "
        result = run_script("--grid", "cpu", "--list", cwd=os.path.dirname(PART2))  # from the repository root
        self.assertEqual((result.returncode, result.stdout), (2, ""))
        self.assertTrue(result.stderr.startswith(expected + "part2-pytorch "), result.stderr)
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
        with tempfile.TemporaryDirectory() as tmp:  # results/ exists only beside the script
            result = run_script("--plot", "--results", "results/longtail.csv", cwd=tmp)
            self.assertEqual(os.listdir(tmp), [])
        self.assertEqual(result.returncode, 2)
        self.assertTrue(result.stderr.startswith(expected), result.stderr)
        self.assertIn("part2-pytorch", result.stderr)


def start_micro_grid(tmp, workers, epochs, **output):
    """experiments.py on the tests' two-run grid of tiny data in `tmp`; returns the process and its results CSV."""
    folder = write_cifar_folder(tmp)[0]
    results = os.path.join(tmp, "results", "longtail.csv")
    parent = subprocess.Popen([sys.executable, SCRIPT, "--grid", "micro", "--workers", str(workers), "--data-dir",
                               folder, "--results", results, "--set", f"epochs={epochs}"], cwd=tmp,
                              env=environment(**{grids.TEST_GRIDS_VARIABLE: "1"}), **output)
    return parent, results


@unittest.skipUnless(os.path.isdir("/proc/self") and hasattr(signal, "SIGKILL"), "needs Linux /proc and SIGKILL")
class KilledRunner(unittest.TestCase):
    def test_workers_end_with_their_parent_and_finished_rows_stay(self):
        with tempfile.TemporaryDirectory() as tmp:
            parent, results = start_micro_grid(tmp, 1, 2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            workers = set()
            try:
                deadline = time.monotonic() + 180
                while len(results_csv.read_rows(results)) < 1:  # the first run is written by its worker
                    self.assertIsNone(parent.poll(), "the grid ended before it could be killed")
                    self.assertLess(time.monotonic(), deadline, "no run finished in time")
                    workers.update(children_of(parent.pid))
                    time.sleep(0.05)
                workers.update(children_of(parent.pid))
                parent.send_signal(signal.SIGKILL)  # while the second run trains
                parent.wait(30)
            finally:
                if parent.poll() is None:
                    parent.kill()
            self.assertTrue(workers)
            deadline = time.monotonic() + 10
            while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual([pid for pid in workers if alive(pid)], [], "workers outlived their parent")
            with open(results, newline="") as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([(r["loss_type"], r["epochs"], r["overrides"]) for r in rows][:1],
                             [("CE", "2", "epochs=2")])
            self.assertLessEqual(len(rows), 2)
            listing = subprocess.run([sys.executable, SCRIPT, "--grid", "micro", "--list", "--results", results,
                                      "--set", "epochs=2"], cwd=tmp, capture_output=True, text=True, timeout=120,
                                     env=environment(**{grids.TEST_GRIDS_VARIABLE: "1"}))
            self.assertEqual([line.split()[0] for line in listing.stdout.splitlines()[1:]],
                             ["done"] * len(rows) + ["todo"] * (2 - len(rows)))

    def test_ctrl_c_ends_the_grid_and_its_workers_at_once(self):
        self.check_stopped_by(signal.SIGINT, "interrupted")

    def test_sigterm_ends_the_grid_as_ctrl_c_does(self):
        self.check_stopped_by(signal.SIGTERM, "stopped by SIGTERM")

    def check_stopped_by(self, number, words):
        with tempfile.TemporaryDirectory() as tmp:
            parent, results = start_micro_grid(tmp, 2, 100000, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True)
            try:
                deadline = time.monotonic() + 180
                while not glob.glob(os.path.join(tmp, "runs", "longtail", "*", "last.pth")):  # both train
                    self.assertIsNone(parent.poll(), "the grid ended before it could be interrupted")
                    self.assertLess(time.monotonic(), deadline, "no epoch finished in time")
                    time.sleep(0.05)
                workers = children_of(parent.pid)
                for folder in glob.glob(os.path.join(tmp, "runs", "longtail", "*")):  # as a worker ended mid-save
                    open(os.path.join(folder, "best.pth.99999.tmp"), "wb").close()
                parent.send_signal(number)  # to the parent alone, as `kill` does
                _, err = parent.communicate(timeout=60)
            finally:
                if parent.poll() is None:
                    parent.kill()
            self.assertEqual(parent.returncode, 128 + number, err)
            self.assertEqual(err.strip().splitlines(), [f"{words}; finished runs are in {results}, run again "
                                                        f"to continue"])
            deadline = time.monotonic() + 10
            while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual([pid for pid in workers if alive(pid)], [], "workers outlived the interrupt")
            # on disk: no row (no run finished), each run's last epoch whole, no temporary file left
            self.assertEqual(results_csv.read_rows(results) if os.path.exists(results) else [], [])
            for path in glob.glob(os.path.join(tmp, "runs", "longtail", "*", "last.pth")):
                self.assertGreaterEqual(torch.load(path, weights_only=True)["epoch"], 1, path)
            self.assertEqual(glob.glob(os.path.join(tmp, "**", "*.tmp"), recursive=True), [])  # the grid cleared them


if __name__ == "__main__":
    unittest.main()
