"""SIGKILL, Ctrl-C and SIGTERM at chosen file writes of main.py (tests/fault_runner.py): what is on disk stays loadable
and consistent, and the run then ends exactly as an uninterrupted one (the same weights, rows and checkpoint).

Every case is a separate process, all started together to share the wait. SIGKILL needs POSIX."""
import csv
import glob
import os
import random
import signal
import subprocess
import sys
import unittest

import torch

from tests.helpers import PART2, ScratchRun

RUNNER = os.path.join(PART2, "tests", "fault_runner.py")
ARGUMENTS = ["--device", "cpu", "--epochs", "3"]
CASES = [  # (file or folder renamed into place, at which of its renames, stage, signal)
    ("config.yaml", 1, "before-rename", "KILL"),
    ("best.pth", 1, "before-rename", "KILL"),
    ("twolayernet.pth", 1, "after-rename", "KILL"),  # the graded checkpoint, before last.pth of epoch 1
    ("last.pth", 2, "before-rename", "KILL"),
    ("last.pth", 2, "after-rename", "KILL"),
    ("metrics.csv", 3, "before-rename", "KILL"),  # metrics.csv is written at the start and after each epoch
    ("last.pth", 2, "before-rename", "INT"),
    ("best.pth", 1, "before-rename", "INT"),  # Ctrl-C among an epoch's writes waits for the rest of them
    ("metrics.csv", 1, "before-rename", "INT"),
    ("last.pth", 2, "before-rename", "TERM"),  # a scheduler ending the job: held and reported as Ctrl-C is
    ("best.pth", 1, "after-rename", "TERM"),
    *[("--seconds", round(random.Random(seed).uniform(3, 9), 2), "", "KILL") for seed in range(2)],  # wherever
]


def start(scratch, *arguments, runner=()):
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, *runner, *([] if runner else [os.path.join(PART2, "main.py")])]
    return subprocess.Popen([*command, "--config", scratch.config, *ARGUMENTS, *arguments], cwd=scratch.folder,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(process):
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def metrics(scratch):
    with open(scratch.path("runs", "tiny", "metrics.csv"), newline="", encoding="utf-8") as f:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(f)]


@unittest.skipUnless(hasattr(signal, "SIGKILL"), "SIGKILL is POSIX-only")
class KillsAndInterrupts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = ScratchRun()
        cls.scratches = [ScratchRun() for _ in CASES]
        faulted = [start(scratch, runner=[RUNNER, name, str(count), stage, signal_name])
                   for scratch, (name, count, stage, signal_name) in zip(cls.scratches, CASES)]
        processes = [start(cls.reference), *faulted]
        cls.reference_result, *cls.faulted = [outcome(process) for process in processes]
        cls.on_disk = [cls.check_what_is_on_disk(scratch) for scratch in cls.scratches]
        cls.resumable = [os.path.exists(scratch.path("runs", "tiny", "last.pth")) for scratch in cls.scratches]
        recoveries = [start(scratch, *(["--resume"] if resume else [])) for scratch, resume in
                      zip(cls.scratches, cls.resumable)]
        cls.recovered = [outcome(process) for process in recoveries]

    @classmethod
    def tearDownClass(cls):
        for scratch in [cls.reference, *cls.scratches]:
            scratch.close()

    @staticmethod
    def check_what_is_on_disk(scratch):
        """Problems with the files a faulted run left (an empty list when every file is whole and consistent)."""
        problems = []
        for path in glob.glob(scratch.path("**", "*.pth"), recursive=True):
            try:
                load(path)
            except Exception as error:  # anything at all: a damaged file is what this test looks for
                problems.append(f"{path}: {error}")
        last = scratch.path("runs", "tiny", "last.pth")
        if os.path.exists(last):
            state = load(last)
            if [row["epoch"] for row in state["rows"]] != list(range(1, state["epoch"] + 1)):
                problems.append("last.pth rows do not match its epoch")
        return problems

    def test_the_faulted_runs_stopped_where_they_were_told(self):
        for (name, count, stage, signal_name), (status, _, err) in zip(CASES, self.faulted):
            with self.subTest(case=(name, count, stage, signal_name)):
                if name == "--seconds":
                    self.assertIn(status, (0, -signal.SIGKILL), err)  # the run may have ended before the kill
                elif signal_name == "KILL":
                    self.assertEqual(status, -signal.SIGKILL, err)
                else:
                    self.assertEqual(status, 128 + getattr(signal, "SIG" + signal_name), err)
                    self.assertIn("interrupted" if signal_name == "INT" else "stopped by SIGTERM", err)
                    self.assertNotIn("Traceback", err)
                    self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_every_file_left_behind_is_whole(self):
        for case, problems in zip(CASES, self.on_disk):
            with self.subTest(case=case):
                self.assertEqual(problems, [])

    def test_the_next_run_ends_as_an_uninterrupted_one(self):
        self.assertEqual(self.reference_result[0], 0, self.reference_result[2])
        reference = load(self.reference.path("runs", "tiny", "last.pth"))
        checkpoint = load(self.reference.path("checkpoints", "twolayernet.pth"))
        for case, scratch, (status, _, err) in zip(CASES, self.scratches, self.recovered):
            with self.subTest(case=case):
                self.assertEqual(status, 0, err)
                last = load(scratch.path("runs", "tiny", "last.pth"))
                for name, tensor in reference["model"].items():
                    self.assertTrue(torch.equal(tensor, last["model"][name]), name)
                for name, tensor in checkpoint.items():
                    self.assertTrue(torch.equal(tensor, load(scratch.path("checkpoints", "twolayernet.pth"))[name]))
                self.assertEqual(metrics(scratch), metrics(self.reference))
                leftovers = glob.glob(scratch.path("runs", "tiny", "*.tmp")) + \
                    glob.glob(scratch.path("checkpoints", "*.tmp"))
                self.assertEqual(leftovers, [])

    def test_a_kill_after_a_finished_epoch_resumes_rather_than_restarts(self):
        for case, resumable, (_, out, _) in zip(CASES, self.resumable, self.recovered):
            with self.subTest(case=case):
                if case[0] == "--seconds":
                    continue  # where the kill landed is not known
                after_epoch_1 = case[0] in ("last.pth", "metrics.csv") and case[1] >= 2
                within_epoch_1 = case[3] != "KILL" and case[0] in ("best.pth", "twolayernet.pth")  # saved whole
                expected = after_epoch_1 or within_epoch_1
                self.assertEqual(resumable, expected)
                self.assertEqual("resuming runs/tiny after epoch" in out, expected)


if __name__ == "__main__":
    unittest.main()
