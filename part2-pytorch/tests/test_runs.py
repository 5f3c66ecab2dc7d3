"""What a run leaves on disk when things go wrong: divergence, a worse run, an earlier run in the folder, a
resume with other settings, a folder in use, damaged files, Ctrl-C (main.main in-process, tiny data)."""
import contextlib
import csv
import errno
import hashlib
import math
import os
import pickle
import re
import shutil
import shlex
import signal
import tempfile
import threading
import types
import unittest
from unittest import mock

import numpy as np
import torch

import checkpointing
import config
import files
import main
import run_state
import runlog
from data import CLASS_NAMES, Cifar, normalise
from models import MODEL_BUILDERS, MyModel
from runlog import RunLog, is_run_folder
from tests.helpers import ScratchRun, python_handles_ctrl_c, write_cifar_folder


setUpModule = python_handles_ctrl_c  # Python's Ctrl-C handler, even in a suite started in the background


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def epochs_in(run, folder="tiny"):
    with open(run.path("runs", folder, "metrics.csv"), newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def one_line(test, err):
    test.assertEqual(len(err.strip().splitlines()), 1, err)
    test.assertNotIn("Traceback", err)


class Scratch(unittest.TestCase):
    def setUp(self):
        self.run = ScratchRun()
        self.addCleanup(self.run.close)
        self.checkpoint = self.run.path("checkpoints", "twolayernet.pth")


class Notes(Scratch):
    def test_a_warmup_or_deferred_weighting_the_epochs_never_reach_is_noted(self):
        for flags, note in ((["--warmup", "3"], "note: warmup 3 is longer than the run's 1 epochs: the rate never "
                                                "reaches learning_rate 0.1"),
                            (["--set", "loss_type=Focal", "--set", "reweight=true", "--set", "reweight_from=2"],
                             "note: reweight_from 2 is past the run's 1 epochs: no epoch's loss is weighted"),
                            (["--warmup", "1", "--set", "loss_type=Focal", "--set", "reweight=true"], None)):
            with self.subTest(flags=flags):
                status, out, err = self.run.main("--epochs", "1", "--save-best", "false", *flags)
                self.assertEqual((status, err), (0, ""))
                self.assertEqual([line for line in out.splitlines() if line.startswith("note:")],
                                 [note] if note else [])

    def test_regular_in_another_case_or_with_spaces_trains_long_tailed_with_a_note(self):
        # as in the kit, any text but "regular" means long-tailed CIFAR-10: a near miss is said, not refused
        for text, note in (("Regular", True), ("'regular '", True), ("imbalance", False), ("regular", False)):
            with self.subTest(imbalance=text):
                status, out, err = self.run.main("--epochs", "1", "--set", f"imbalance={text}", "--save-best", "false",
                                                 "--set", "imb_factor=0.001")
                self.assertEqual((status, err), (0, ""))
                self.assertEqual("note: imbalance" in out, note, out)
                long_tailed = "per class [30, 30, 30, 30, 30, 30, 30, 23, 10, 5]" in out  # 5000 * 0.001 trucks
                self.assertEqual(long_tailed, text != "regular", out)


class Divergence(Scratch):
    def test_a_diverging_run_stops_and_saves_no_nonfinite_weights(self):
        status, out, err = self.run.main("--learning-rate", "1e38", "--set", "reg=0", "--epochs", "3")
        self.assertEqual(status, 1)
        one_line(self, err)
        self.assertIn("diverged", err)
        self.assertIn("learning_rate", err)
        saved = [os.path.join(folder, name) for folder, _, names in os.walk(self.run.folder) for name in names
                 if name.endswith(".pth")]
        for path in saved:
            state = load(path)
            weights = state.get("model", state)
            self.assertTrue(all(torch.isfinite(tensor).all() for tensor in weights.values()), path)
        self.assertNotIn("saved checkpoints", out)
        self.assertFalse(os.path.exists(self.checkpoint))  # the first epoch diverged: there was nothing to save


class GradedCheckpoint(Scratch):
    POOR = ("--epochs", "1", "--learning-rate", "0.0001")

    def test_only_better_weights_replace_the_checkpoint_unless_asked(self):
        self.assertEqual(self.run.main(*self.POOR)[0], 0)  # no file yet: written
        poor = read_bytes(self.checkpoint)
        status, out, _ = self.run.main()  # two epochs at the usual rate: better
        self.assertEqual(status, 0)
        self.assertIn("saved checkpoints/twolayernet.pth".replace("/", os.sep), out)
        good = read_bytes(self.checkpoint)
        self.assertNotEqual(good, poor)

        status, out, _ = self.run.main(*self.POOR)
        self.assertEqual(status, 0)
        self.assertIn("replaces it only with better weights", out)  # said as the run starts
        self.assertIn("kept checkpoints/twolayernet.pth, which scores ".replace("/", os.sep), out)
        self.assertEqual(read_bytes(self.checkpoint), good)
        best = load(self.run.path("runs", "tiny", "best.pth"))  # the run's best stays in its folder
        self.assertFalse(torch.equal(best["fc1.weight"], load(self.checkpoint)["fc1.weight"]))

        status, out, _ = self.run.main(*self.POOR, "--overwrite-checkpoint")
        self.assertEqual(status, 0)
        self.assertNotIn("only with better weights", out)
        self.assertEqual(read_bytes(self.checkpoint), read_bytes(self.run.path("runs", "tiny", "best.pth")))

    def test_diverged_weights_are_replaced_and_evaluating_them_says_the_score_means_nothing(self):
        self.assertEqual(self.run.main(*self.POOR)[0], 0)
        state = load(self.checkpoint)
        state["fc2.weight"].fill_(math.nan)
        checkpointing.save_atomically(state, self.checkpoint)
        status, out, err = self.run.main("--evaluate", "checkpoints/twolayernet.pth")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("Prec@1", out)
        self.assertEqual(out.splitlines()[-1], "note: some of these weights are not finite numbers (a diverged "
                                               "run's): the accuracy means nothing")
        status, out, err = self.run.main(*self.POOR)
        self.assertEqual((status, err), (0, ""))
        self.assertIn("holds weights that are not finite numbers (a diverged run's); this run replaces it", out)
        self.assertEqual(read_bytes(self.checkpoint), read_bytes(self.run.path("runs", "tiny", "best.pth")))

    def test_an_unreadable_checkpoint_is_kept_and_evaluating_it_is_one_line(self):
        os.makedirs(os.path.dirname(self.checkpoint))
        open(self.checkpoint, "wb").close()  # zero bytes
        status, out, err = self.run.main("--epochs", "1")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("is kept", out)
        self.assertEqual(os.path.getsize(self.checkpoint), 0)
        status, _, err = self.run.main("--evaluate", "checkpoints/twolayernet.pth")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("cannot read checkpoint checkpoints/twolayernet.pth", err)


    def test_the_kits_own_checkpoints_are_kept_by_a_run_on_other_data(self):
        with mock.patch.object(run_state, "KIT_CHECKPOINTS", self.run.path("checkpoints")):  # as if this were the kit
            self.assertEqual(self.run.main(*self.POOR)[0], 0)  # no file yet: nothing to keep
            poor = read_bytes(self.checkpoint)
            status, out, _ = self.run.main()  # better on the tiny test set, which is not CIFAR-10's
            self.assertEqual(status, 0)
            self.assertIn("CIFAR-10's 10,000 test images", out)
            self.assertIn("kept checkpoints/twolayernet.pth".replace("/", os.sep), out)
            self.assertEqual(read_bytes(self.checkpoint), poor)
            self.assertEqual(self.run.main("--overwrite-checkpoint")[0], 0)  # asked for: replaced
            self.assertEqual(read_bytes(self.checkpoint), read_bytes(self.run.path("runs", "tiny", "best.pth")))

    def test_the_kits_own_checkpoints_are_kept_by_a_run_on_other_data_of_cifar10s_size(self):
        write_cifar_folder(self.run.path("other"), train_per_class=30, test_per_class=1000)  # 10,000 test images
        other = ["--data-dir", os.path.join("other", "cifar-10-batches-py")]
        with mock.patch.object(run_state, "KIT_CHECKPOINTS", self.run.path("checkpoints")):
            self.assertEqual(self.run.main(*self.POOR, *other)[0], 0)
            poor = read_bytes(self.checkpoint)
            status, out, _ = self.run.main(*other)  # better on that test set, which is not CIFAR-10's
            self.assertEqual(status, 0)
            self.assertIn("this run tests on 10,000 other images", out)
            self.assertIn("kept checkpoints/twolayernet.pth".replace("/", os.sep), out)
            self.assertEqual(read_bytes(self.checkpoint), poor)

    def test_cifar10s_test_set_is_told_by_its_first_labels(self):
        labels = np.random.default_rng(0).integers(0, 10, 10000)
        digest = hashlib.sha256(labels[:1000].astype(np.uint8).tobytes()).hexdigest()
        with mock.patch.object(run_state, "CIFAR10_FIRST_TEST_LABELS_SHA256", digest):
            self.assertTrue(run_state.is_cifar10_test_set(labels))
            self.assertTrue(run_state.is_cifar10_test_set(list(labels)))
            changed = labels.copy()
            changed[999] = (changed[999] + 1) % 10
            self.assertFalse(run_state.is_cifar10_test_set(changed))
            self.assertFalse(run_state.is_cifar10_test_set(labels[:9999]))
            self.assertFalse(run_state.is_cifar10_test_set(np.concatenate([labels, labels[:1]])))
        self.assertFalse(run_state.is_cifar10_test_set(labels))  # the real digest: not these labels

    def test_a_checkpoint_that_cannot_be_written_stops_the_run_before_training(self):
        os.makedirs(self.checkpoint)  # a folder in the checkpoint's place
        status, out, err = self.run.main("--epochs", "1")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("checkpoints/twolayernet.pth is a folder".replace("/", os.sep), err)
        self.assertTrue(os.path.isdir(self.checkpoint))
        self.assertNotIn("epoch", out)
        os.rmdir(self.checkpoint)
        with mock.patch("run_state.open", side_effect=PermissionError(13, "Permission denied"), create=True):
            status, out, err = self.run.main("--epochs", "1")  # a read-only checkpoints/ (root ignores chmod)
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("cannot write in checkpoints/ (Permission denied); fix the permissions, or train with "
                      "--save-best false", err)
        with mock.patch("run_state.open", side_effect=OSError(errno.EROFS, "Read-only file system"), create=True):
            status, out, err = self.run.main("--epochs", "1")  # runs/ is on that disk too: no --save-best way out
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertTrue(err.rstrip().endswith("cannot write in checkpoints/ (Read-only file system); copy the kit to "
                                              "a disk you can write to"), err)
        self.assertFalse(os.path.exists(self.run.path("runs", "tiny", "last.pth")))
        self.assertEqual(os.listdir(self.run.path("checkpoints")), [])
        os.rmdir(self.run.path("checkpoints"))
        with open(self.run.path("checkpoints"), "w") as f:  # a file where the folder goes
            f.write("notes")
        status, out, err = self.run.main("--epochs", "1")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("cannot write in checkpoints/", err)
        self.assertIn("a file or folder of that name is in the way: move it, or train with --save-best false", err)
        self.assertEqual(read_bytes(self.run.path("checkpoints")), b"notes")
        self.assertEqual(self.run.main("--epochs", "1", "--save-best", "false")[0], 0)  # the way out it names

    def test_a_probe_left_by_a_failed_or_interrupted_removal_is_a_leftover_the_next_write_clears(self):
        real_remove = os.remove
        for stop in (OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()):
            with self.subTest(stop=repr(stop)):
                calls = []

                def remove(path):  # the probe's removal fails (or is interrupted) once
                    calls.append(path)
                    if len(calls) == 1:
                        raise stop
                    return real_remove(path)
                with mock.patch("run_state.os.remove", remove):
                    try:
                        run_state.check_writable(self.checkpoint)
                    except KeyboardInterrupt:
                        pass
                self.assertEqual(os.listdir(self.run.path("checkpoints")), [os.path.basename(calls[0])])
                self.assertTrue(calls[0].endswith(f".pth.{os.getpid()}.tmp"))  # a killed write's name:
                files.remove_leftovers(self.checkpoint)  # the graded checkpoint's next writer clears it
                self.assertEqual(os.listdir(self.run.path("checkpoints")), [])


class Payload:
    """Unpickling this runs `touch marker`: what a hostile checkpoint would carry."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class HostileCheckpoints(Scratch):
    def test_a_checkpoint_that_would_run_code_is_refused_unrun(self):
        marker = self.run.path("ran")
        os.makedirs(os.path.dirname(self.checkpoint))
        torch.save({"fc1.weight": torch.zeros(1), "payload": Payload(marker)}, self.checkpoint)
        status, _, err = self.run.main("--evaluate", "checkpoints/twolayernet.pth")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("cannot read checkpoint", err)
        status, out, _ = self.run.main("--epochs", "1")  # a training run scores the file there first
        self.assertEqual(status, 0)
        self.assertIn("is kept", out)
        self.assertFalse(os.path.exists(marker))


class GradedCheckpointRule(unittest.TestCase):
    """checkpointing.GradedCheckpoint alone, with weights whose "accuracy" is written in their last bias."""

    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = os.path.join(folder.name, "twolayernet.pth")

    @staticmethod
    def weights(accuracy):
        state = {name: tensor.clone() for name, tensor in MODEL_BUILDERS["TwoLayerNet"]().state_dict().items()}
        state["fc2.bias"][0] = accuracy
        return state

    def graded(self):
        return checkpointing.GradedCheckpoint(self.path, "TwoLayerNet", lambda state: float(state["fc2.bias"][0]))

    def accuracy_on_disk(self):
        return float(load(self.path)["fc2.bias"][0])

    def test_a_tie_keeps_the_file(self):
        checkpointing.save_atomically(self.weights(0.5), self.path)
        graded, before = self.graded(), read_bytes(self.path)
        self.assertFalse(graded.offer(self.weights(0.5), 0.5))
        self.assertEqual(read_bytes(self.path), before)
        self.assertTrue(graded.offer(self.weights(0.625), 0.625))
        self.assertEqual(self.accuracy_on_disk(), 0.625)
        self.assertFalse(graded.offer(self.weights(0.5625), 0.5625))  # better than the start, not than its own best

    def test_weights_that_are_not_finite_score_below_any_run(self):
        nan = self.weights(0.875)  # would score 0.875, but a NaN predicts one class whatever the image
        nan["fc1.weight"][0, 0] = math.nan
        checkpointing.save_atomically(nan, self.path)
        graded = self.graded()
        self.assertEqual((graded.baseline, graded.problem, graded.not_finite), (-math.inf, None, True))
        self.assertTrue(graded.offer(self.weights(0.125), 0.125))
        self.assertEqual(self.accuracy_on_disk(), 0.125)

    def test_a_better_file_another_run_wrote_meanwhile_is_kept(self):
        checkpointing.save_atomically(self.weights(0.5), self.path)
        seen = os.stat(self.path)
        graded = self.graded()
        checkpointing.save_atomically(self.weights(0.875), self.path)  # another run, after this one looked
        os.utime(self.path, ns=(seen.st_atime_ns, seen.st_mtime_ns))  # the same size and time: a coarse clock's
        before = read_bytes(self.path)
        for accuracy in (0.875, 0.75):  # as good as the file there now, then worse: either way it stays
            self.assertFalse(graded.offer(self.weights(accuracy), accuracy))
            self.assertEqual(read_bytes(self.path), before)

    def test_one_rank_of_several_keeps_a_file_another_run_wrote_meanwhile_without_testing_it_alone(self):
        # under torchrun the test sums across ranks: rank 0 alone scoring the new file would wait for ever
        checkpointing.save_atomically(self.weights(0.5), self.path)
        scored = []
        graded = checkpointing.GradedCheckpoint(self.path, "TwoLayerNet",
                                                lambda state: scored.append(1) or float(state["fc2.bias"][0]),
                                                can_rescore=False)
        checkpointing.save_atomically(self.weights(0.25), self.path)  # another run, worse, after this one looked
        os.utime(self.path, ns=(1, 1))
        before = read_bytes(self.path)
        self.assertFalse(graded.offer(self.weights(0.875), 0.875))
        self.assertEqual((read_bytes(self.path), len(scored)), (before, 1))  # kept; scored once, at the start
        self.assertEqual(graded.problem, "another run replaced it during this one")

    def test_weights_of_another_model_in_the_file_are_kept_unscored(self):
        checkpointing.save_atomically(MODEL_BUILDERS["VanillaCNN"]().state_dict(), self.path)
        before = read_bytes(self.path)
        graded = self.graded()
        self.assertIn("does not fit model TwoLayerNet", graded.problem)
        self.assertFalse(graded.offer(self.weights(1.0), 1.0))
        self.assertEqual(read_bytes(self.path), before)


class BestEpoch(Scratch):
    def test_the_first_of_the_best_tested_epochs_is_kept_not_the_last(self):
        def confusion_of(accuracy):  # ten images a class, `accuracy` of them right
            right = round(10 * accuracy)
            eye = torch.eye(10, dtype=torch.int64)
            return eye * right + torch.roll(eye, 1, dims=1) * (10 - right)
        accuracies, weights_tested = iter([0.5, 0.3, 0.5]), []  # a tie is no improvement, as in the kit

        def confusion_on_test_set(model, batches, args, device, progress=False):
            weights_tested.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
            return confusion_of(next(accuracies))
        with mock.patch.object(main, "confusion_on_test_set", confusion_on_test_set):
            status, out, err = self.run.main("--epochs", "3")
        self.assertEqual(status, 0, err)
        self.assertEqual(len(weights_tested), 3)  # one test an epoch; no file in checkpoints/ to score first
        first, last = weights_tested[0], weights_tested[-1]
        self.assertFalse(torch.equal(first["fc1.weight"], last["fc1.weight"]))
        run_state_file = load(self.run.path("runs", "tiny", "last.pth"))
        self.assertEqual((run_state_file["best"]["epoch"], run_state_file["best"]["accuracy"]), (1, 0.5))
        for weights in (load(self.run.path("runs", "tiny", "best.pth")), load(self.checkpoint),
                        run_state_file["best"]["model"]):
            self.assertEqual(set(weights), set(first))
            self.assertTrue(all(torch.equal(weights[name], first[name]) for name in first))
        self.assertIn("Best Prec@1 0.5000 at epoch 1", out)


class RunFolders(Scratch):
    def test_a_fresh_run_moves_an_earlier_run_aside(self):
        self.assertEqual(self.run.main("--epochs", "2")[0], 0)
        earlier = read_bytes(self.run.path("runs", "tiny", "last.pth"))
        status, out, _ = self.run.main("--epochs", "1")
        self.assertEqual(status, 0)
        self.assertIn("moved to runs/tiny.1".replace("/", os.sep), out)
        self.assertEqual(read_bytes(self.run.path("runs", "tiny.1", "last.pth")), earlier)
        self.assertEqual((epochs_in(self.run, "tiny.1"), epochs_in(self.run)), ([1, 2], [1]))
        self.assertEqual(load(self.run.path("runs", "tiny", "last.pth"))["epoch"], 1)

    def test_a_start_that_fails_or_is_stopped_leaves_the_earlier_run_in_place(self):
        # scoring checkpoints/ is the slow part of a start: a failure or Ctrl-C there moves and writes nothing
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)  # runs/tiny and checkpoints/twolayernet.pth

        def files_of_runs():
            return {os.path.relpath(os.path.join(top, name), self.run.folder):
                    hashlib.sha256(read_bytes(os.path.join(top, name))).hexdigest()  # a short diff when they differ
                    for top, _, names in os.walk(self.run.path("runs")) for name in names}
        before = files_of_runs()

        def eio(*args, **kwargs):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        stopped = mock.patch.object(main, "confusion_on_test_set", side_effect=KeyboardInterrupt)
        for failure, expected in ((stopped, 130), (mock.patch("checkpointing.torch.load", eio), 2)):
            with self.subTest(expected=expected), failure:
                status, _, err = self.run.main("--epochs", "1")
                self.assertEqual(status, expected)
                self.assertNotIn("Traceback", err)
                self.assertEqual(files_of_runs(), before)

    def test_each_fresh_run_moves_the_earlier_one_to_the_next_free_number(self):
        os.makedirs(self.run.path("runs", "tiny"))  # an empty folder holds no earlier run: nothing to move
        for _ in range(4):
            self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        folders = sorted(name for name in os.listdir(self.run.path("runs")) if not name.startswith("."))
        self.assertEqual(folders, ["tiny", "tiny.1", "tiny.2", "tiny.3"])
        for folder in folders:
            self.assertEqual(epochs_in(self.run, folder), [1])

    def test_on_windows_the_earlier_run_waits_for_a_file_of_it_open_elsewhere(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        real_replace, calls = os.replace, []

        def replace(source, target):  # Windows while metrics.csv is open in a spreadsheet, for three tries
            calls.append(target)
            if os.path.isdir(source) and len(calls) <= 3:
                raise PermissionError(errno.EACCES, "Access is denied", source)
            return real_replace(source, target)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), mock.patch("time.sleep"):
            aside = runlog.RunLog(self.run.path("runs", "tiny"), CLASS_NAMES).set_aside()
        self.assertEqual(aside, self.run.path("runs", "tiny.1"))
        self.assertEqual((len(calls), epochs_in(self.run, "tiny.1")), (4, [1]))

    def test_a_link_to_nothing_in_a_numbers_place_is_passed_over_and_left_alone(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        try:
            os.symlink(self.run.path("nowhere"), self.run.path("runs", "tiny.1"))
        except OSError:  # Windows without the right to make links
            self.skipTest("cannot make a symbolic link here")
        status, out, err = self.run.main("--epochs", "1")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("tiny.2", out)
        self.assertEqual(os.readlink(self.run.path("runs", "tiny.1")), self.run.path("nowhere"))
        self.assertEqual((epochs_in(self.run, "tiny"), epochs_in(self.run, "tiny.2")), ([1], [1]))

    def test_the_run_config_keeps_the_sections_in_the_configs_order(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        with open(self.run.path("runs", "tiny", "config.yaml")) as f:
            sections = [line.rstrip(":\n") for line in f if line[:1].isalpha()]
        self.assertEqual(sections, list(config.SECTIONS))

    def test_a_run_folder_holds_both_its_config_and_its_metrics(self):
        folder = self.run.path("runs", "partial")
        os.makedirs(folder)
        for name, expected in (("metrics.csv", False), ("config.yaml", True)):
            open(os.path.join(folder, name), "w").close()
            self.assertIs(is_run_folder(folder), expected)

    def test_named_runs_have_their_own_folders(self):
        self.assertEqual(self.run.main("--epochs", "1", "--name", "first/try")[0], 0)
        self.assertEqual(epochs_in(self.run, "first/try"), [1])
        before = sorted(os.listdir(self.run.path("runs")))
        for name in ("../outside", "first/../../outside", "/tmp/outside", "a b", "", "con", "first/Nul.txt",
                     "lpt1", "try."):
            status, _, err = self.run.main("--name", name)
            self.assertEqual(status, 2, name)
            self.assertIn(f"{name!r} is not a run name", err)
        for name in ("a" * 241, "first/" + "b" * 300):  # past a file name's 255 bytes with the lock's
            status, _, err = self.run.main("--name", name)
            self.assertEqual(status, 2, name)
            one_line(self, err)
            self.assertIn("at most 240 characters between '/'", err)
        self.assertEqual(sorted(os.listdir(self.run.path("runs"))), before)
        self.assertEqual(self.run.main("--epochs", "1", "--name", "c" * 240)[0], 0)
        self.assertEqual(epochs_in(self.run, "c" * 240), [1])
        self.assertEqual(self.run.main("--epochs", "1", "--name", "c" * 240)[0], 0)  # the first set aside: .1
        self.assertEqual(epochs_in(self.run, "c" * 240 + ".1"), [1])
        self.assertNotIn("outside", os.listdir(self.run.folder))

    def test_a_config_whose_file_name_is_no_folder_name_everywhere_asks_for_a_name(self):
        before = sorted(os.listdir(self.run.folder))
        for stem in ("nul", "Com1", "try.", "a:b", "what?"):
            if os.name == "nt" and stem != "try.":
                continue  # Windows cannot make those files; the rule that refuses them is the same
            with self.subTest(stem=stem):
                config = shutil.copy(self.run.config, self.run.path(stem + ".yaml"))
                status, _, err = self.run.main("--config", config)
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn(f"runs/{stem}, the run folder named after the config's file, is not a folder name", err)
                self.assertIn("name the run with --name NAME", err)
                os.remove(config)
        self.assertEqual(sorted(os.listdir(self.run.folder)), before)  # no runs/ at all
        config = shutil.copy(self.run.config, self.run.path("données.yaml"))  # any language is fine
        self.assertEqual(self.run.main("--config", config, "--epochs", "1")[0], 0)
        self.assertEqual(epochs_in(self.run, "données"), [1])

    def test_a_run_neither_holds_nor_goes_inside_another(self):
        self.assertEqual(self.run.main("--epochs", "1", "--name", "a/b")[0], 0)
        inner = read_bytes(self.run.path("runs", "a", "b", "last.pth"))
        status, _, err = self.run.main("--epochs", "1", "--name", "a")  # would move a/b to a.1/b
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn(f"{os.path.join('runs', 'a')} holds another run, {os.path.join('runs', 'a', 'b')}", err)
        self.assertEqual(sorted(os.listdir(self.run.path("runs"))), [".a.lock", "a"])
        self.assertEqual(read_bytes(self.run.path("runs", "a", "b", "last.pth")), inner)
        status, _, err = self.run.main("--epochs", "1", "--name", "a/b/c")  # inside the run a/b
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn(f"{os.path.join('runs', 'a', 'b')} holds a run, and this one would go inside it", err)
        self.assertFalse(os.path.exists(self.run.path("runs", "a", "b", "c")))
        self.assertNotIn(".c.lock", os.listdir(self.run.path("runs", "a", "b")))  # nothing left in that run either
        status, _, err = self.run.main("--epochs", "1", "--name", "a/b/c/d")  # deeper inside it
        self.assertEqual(status, 2)
        self.assertIn(f"{os.path.join('runs', 'a', 'b')} holds a run, and this one would go inside it", err)
        self.assertFalse(os.path.exists(self.run.path("runs", "a", "b", "c")))
        self.assertEqual(self.run.main("--epochs", "2", "--name", "a/b", "--resume")[0], 0)  # its own folder: fine
        self.assertEqual(epochs_in(self.run, "a/b"), [1, 2])

    def test_a_folder_in_use_is_refused_and_left_alone(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        before = {name: read_bytes(self.run.path("runs", "tiny", name)) for name in ("last.pth", "metrics.csv")}
        with files.FileLock(self.run.path("runs", ".tiny.lock"), wait=False):
            status, _, err = self.run.main("--epochs", "1")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("in use by another run", err)
        self.assertEqual({name: read_bytes(self.run.path("runs", "tiny", name)) for name in before}, before)
        self.assertFalse(os.path.exists(self.run.path("runs", "tiny.1")))

    def test_leftovers_of_killed_writes_are_removed(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        leftovers = [self.run.path("runs", "tiny", "last.pth.4242.tmp"), self.checkpoint + ".4242.tmp"]
        for path in leftovers:
            open(path, "wb").close()
        self.assertEqual(self.run.main("--epochs", "2", "--resume")[0], 0)
        self.assertEqual([path for path in leftovers if os.path.exists(path)], [])

    def test_a_fresh_run_sets_an_earlier_one_aside_without_its_killed_writes(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        open(self.run.path("runs", "tiny", "best.pth.4242.tmp"), "wb").close()  # a run killed mid-save
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        self.assertEqual(sorted(os.listdir(self.run.path("runs", "tiny.1"))),
                         sorted(os.listdir(self.run.path("runs", "tiny"))))  # the earlier run's files, no .tmp


class Resume(Scratch):
    def setUp(self):
        super().setUp()
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        self.last = self.run.path("runs", "tiny", "last.pth")

    def test_fewer_epochs_than_the_run_has_finished_is_refused_and_nothing_changes(self):
        self.assertEqual(self.run.main("--epochs", "2", "--resume")[0], 0)
        before = read_bytes(self.last)
        status, _, err = self.run.main("--epochs", "1", "--resume")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("more than Train.epochs = 1", err)
        self.assertEqual(read_bytes(self.last), before)

    def test_looking_whether_a_run_can_go_on_changes_nothing_of_the_arguments(self):
        for overrides in ([("amp", "auto")], [("amp", "auto"), ("learning_rate", 0.5)]):  # the same run, another
            with self.subTest(overrides=overrides):
                args = config.run_arguments(self.run.config, overrides, device=torch.device("cpu"))
                run_state.resumable_state(args, self.run.path("runs", "tiny"))
                self.assertEqual(args.amp, "auto")  # decided when the run goes on, not by a look

    def test_the_command_to_continue_names_resume_once(self):
        run = types.SimpleNamespace(rows=[{"epoch": 2}], folder="runs/tiny", last_path=self.last)
        for argv in (["main.py", "--config", "tiny.yaml"], ["main.py", "--config", "tiny.yaml", "--resume"]):
            with self.subTest(argv=argv), mock.patch("sys.argv", argv):
                message = str(run_state.interruption(run, "in epoch 3", types.SimpleNamespace(), KeyboardInterrupt()))
                self.assertEqual(message.count("--resume"), 1, message)

    def test_a_resume_stopped_before_its_folder_held_a_last_pth_has_nothing_to_resume(self):
        args = types.SimpleNamespace(resume=True, config="tiny.yaml")
        for last_path, held in ((self.last, "still holds its finished epochs"),
                                (self.run.path("runs", "other", "last.pth"), "nothing to resume")):
            with self.subTest(last_path=last_path):
                run = types.SimpleNamespace(rows=[], folder="runs/x", last_path=last_path)
                self.assertIn(held, str(run_state.interruption(run, "as the run started", args, KeyboardInterrupt())))

    def test_other_settings_are_refused_by_name_and_nothing_changes(self):
        before = read_bytes(self.last)
        for flags, named in ((("--learning-rate", "0.2"), "learning_rate"), (("--seed", "3"), "seed"),
                             (("--lr-schedule", "linear"), "lr_schedule")):
            with self.subTest(flags=flags):
                status, _, err = self.run.main("--resume", "--epochs", "2", *flags)
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn(named, err)
                self.assertEqual(read_bytes(self.last), before)
                self.assertEqual(epochs_in(self.run), [1])

    def test_a_grid_goes_on_only_from_the_same_run(self):
        folder = self.run.path("runs", "tiny")

        def state_for(*overrides):
            args = config.run_arguments(self.run.config, [("epochs", 2), *overrides], device=torch.device("cpu"))
            return run_state.resumable_state(args, folder)
        self.assertEqual(state_for()["epoch"], 1)
        self.assertEqual(state_for(("amp", "auto"))["epoch"], 1)  # auto: the run's own decision stands
        self.assertIsNone(state_for(("learning_rate", 0.2)))
        self.assertIsNone(run_state.resumable_state(config.run_arguments(self.run.config, seed=3), folder))
        self.assertIsNone(state_for(("model", "VanillaCNN")))
        torch.save({"fc1.weight": torch.zeros(1)}, self.last)
        self.assertIsNone(state_for())
        os.remove(self.last)
        self.assertIsNone(state_for())

    def test_a_run_saved_with_fused_kernels_resumes_where_torch_has_none(self):
        no_fused_cpu = (mock.patch("torch.utils._foreach_utils._get_fused_kernels_supported_devices",
                                   return_value=["cuda"]),
                        mock.patch("torch.optim.sgd._fused_sgd", side_effect=RuntimeError("no fused kernel here")))
        with no_fused_cpu[0], no_fused_cpu[1]:  # last.pth's optimiser says fused; this torch has no such kernel
            status, _, err = self.run.main("--resume", "--epochs", "2")
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(epochs_in(self.run), [1, 2])

    def test_a_finished_run_has_nothing_to_train_and_saves_nothing(self):
        checkpoint = read_bytes(self.checkpoint)
        status, out, err = self.run.main("--resume", "--epochs", "1")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("nothing to train", out)
        self.assertNotIn("saved", out)
        self.assertEqual(read_bytes(self.checkpoint), checkpoint)

    def test_a_finished_run_resumed_on_other_test_data_is_scored_on_that_data(self):
        # the same images with every test label moved on by one: the run's best scores 0 there, though last.pth
        # holds what it scored on its own data; the graded file (all-zero weights: class 0 always) scores 0.1
        write_cifar_folder(self.run.path("shifted"))
        test_batch = self.run.path("shifted", "cifar-10-batches-py", "test_batch")
        with open(test_batch, "rb") as f:
            batch = pickle.load(f)
        batch[b"labels"] = [(label + 1) % 10 for label in batch[b"labels"]]
        with open(test_batch, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        best = load(self.run.path("runs", "tiny", "best.pth"))
        torch.save({name: torch.zeros_like(tensor) for name, tensor in best.items()}, self.checkpoint)
        checkpoint = read_bytes(self.checkpoint)
        status, out, err = self.run.main("--resume", "--epochs", "1", "--set",
                                         "data_dir=" + os.path.join("shifted", "cifar-10-batches-py"))
        self.assertEqual((status, err), (0, ""))
        self.assertIn("nothing to train", out)
        self.assertIn("Best Prec@1 0.0000 at epoch 1", out)  # every line speaks of this test set
        self.assertIn("kept checkpoints/twolayernet.pth, which scores 0.1000: this run's best, 0.0000, is not "
                      "better".replace("/", os.sep), out)
        self.assertEqual(read_bytes(self.checkpoint), checkpoint)

    def test_a_resume_with_nothing_to_train_writes_what_a_failed_end_left_out(self):
        # the figures and the graded checkpoint come after last.pth: a full disk there left a finished run without
        for name in ("learning_curves.png", "confusion_matrix.png", "confusion_matrix.csv"):
            os.remove(self.run.path("runs", "tiny", name))
        best = load(self.run.path("runs", "tiny", "best.pth"))
        torch.save({name: torch.zeros_like(tensor) for name, tensor in best.items()}, self.checkpoint)  # worse
        status, out, err = self.run.main("--resume", "--epochs", "1")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("nothing to train", out)
        self.assertIn("saved checkpoints/twolayernet.pth".replace("/", os.sep), out)
        self.assertEqual(read_bytes(self.checkpoint), read_bytes(self.run.path("runs", "tiny", "best.pth")))
        for name in ("learning_curves.png", "confusion_matrix.png", "confusion_matrix.csv"):
            self.assertTrue(os.path.getsize(self.run.path("runs", "tiny", name)) > 0, name)

    def test_nothing_to_train_before_any_test_is_one_line(self):
        self.assertEqual(self.run.main("--epochs", "3", "--test-every", "5", "--name", "untested")[0], 0)
        state = load(self.run.path("runs", "untested", "last.pth"))  # as if stopped after epoch 2 of 3
        torch.save(dict(state, epoch=2, rows=state["rows"][:2], best=None), self.run.path("runs", "untested",
                                                                                          "last.pth"))
        status, _, err = self.run.main("--resume", "--epochs", "2", "--test-every", "5", "--name", "untested")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("before any test; resume it with --epochs above 2", err)

    def test_a_damaged_metrics_csv_is_rewritten_from_last_pth(self):
        with open(self.run.path("runs", "tiny", "metrics.csv"), "wb") as f:
            f.write(b"\xff\xfe garbage,,,\n1,2\n")
        self.assertEqual(self.run.main("--resume", "--epochs", "2")[0], 0)
        self.assertEqual(epochs_in(self.run), [1, 2])

    def test_a_last_pth_that_is_no_run_state_is_one_line(self):
        torch.save({"fc1.weight": torch.zeros(1)}, self.last)
        status, _, err = self.run.main("--resume", "--epochs", "2")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("not a run state", err)
        open(self.last, "wb").close()
        status, _, err = self.run.main("--resume", "--epochs", "2")
        self.assertEqual(status, 2)
        one_line(self, err)

    def test_a_run_state_whose_epochs_disagree_is_one_line_and_kept(self):
        state = load(self.last)
        for damage in (dict(epoch="one"), dict(epoch=-1), dict(epoch=True), dict(rows=None), dict(epoch=2),
                       dict(rows=[dict(state["rows"][0], epoch=3)]), dict(best={"accuracy": 0.5}),
                       dict(confusion="none"), dict(rows=[{"epoch": 1}]),  # a row without its numbers
                       # the right keys, values of the wrong kind (each crashed a resume or its figure)
                       dict(optimizer=None), dict(rng=None), dict(rows=[dict(state["rows"][0], test_acc=None)]),
                       dict(best=dict(state["best"], accuracy="high")), dict(best=dict(state["best"], epoch=5)),
                       dict(best=dict(state["best"], model=3)),
                       dict(rows=state["rows"] + [dict(state["rows"][0], epoch=2)]),  # a row past its epoch
                       dict(rows=[dict(state["rows"][0], acc_plane=0.5)])):  # a column metrics.csv does not have
            with self.subTest(damage=damage):
                torch.save(dict(state, **damage), self.last)
                before = read_bytes(self.last)
                status, _, err = self.run.main("--resume", "--epochs", "2")
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn("is damaged", err)
                self.assertEqual(read_bytes(self.last), before)
                self.assertEqual(epochs_in(self.run), [1])


    def test_best_weights_or_confusion_that_do_not_fit_are_one_line_and_checkpoints_stay(self):
        # a finished run's resume offers its best weights to checkpoints/: they must be the run model's, finite
        state = load(self.last)
        weights = state["best"]["model"]
        checkpoint = read_bytes(self.checkpoint)
        for name, damage in (
                ("no weights", dict(best=dict(state["best"], model={}))),
                ("other names", dict(best=dict(state["best"], model={"x": torch.zeros(3)}))),
                ("other shapes", dict(best=dict(state["best"], model={k: v[:1] for k, v in weights.items()}))),
                ("not finite", dict(best=dict(state["best"], model={k: v * math.nan for k, v in weights.items()}))),
                ("a list", dict(best=dict(state["best"], model={k: v.tolist() for k, v in weights.items()}))),
                ("best confusion", dict(best=dict(state["best"], confusion=torch.zeros(3)))),
                ("last confusion", dict(confusion=torch.zeros(10, 3, dtype=torch.int64)))):
            with self.subTest(damage=name):
                torch.save(dict(state, **damage), self.last)
                before = read_bytes(self.last)
                status, _, err = self.run.main("--resume", "--epochs", "1")
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn("is damaged", err)
                self.assertEqual((read_bytes(self.last), read_bytes(self.checkpoint)), (before, checkpoint))

    def test_a_damaged_momentum_is_one_line_and_kept(self):
        state = load(self.last)
        momentum = state["optimizer"]["state"]
        shapes = [{**momentum, index: {"momentum_buffer": torch.zeros(3)}} for index in momentum]
        for damage in (*shapes, {0: {"momentum_buffer": "x"}}, {0: "x"}, {"0": {}}, {99: {}}, None,
                       {0: {"momentum_buffer": momentum[0]["momentum_buffer"].long()}}):
            with self.subTest(damage=damage):  # a wrong shape crashed the fused SGD kernel (SIGSEGV)
                torch.save(dict(state, optimizer=dict(state["optimizer"], state=damage)), self.last)
                before = read_bytes(self.last)
                status, _, err = self.run.main("--resume", "--epochs", "2")
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn("damaged optimiser state", err)
                self.assertEqual(read_bytes(self.last), before)
                self.assertEqual(epochs_in(self.run), [1])
        torch.save(dict(state, optimizer=dict(state["optimizer"], state={})), self.last)  # no momentum yet: fine
        self.assertEqual(self.run.main("--resume", "--epochs", "2")[0], 0)

    def test_a_damaged_random_state_is_one_line_and_kept(self):
        state = load(self.last)
        for rng in (dict(state["rng"], batches=None), dict(state["rng"], torch=None), {"torch": 1}):
            with self.subTest(rng=rng):
                torch.save(dict(state, rng=rng), self.last)
                before = read_bytes(self.last)
                status, _, err = self.run.main("--resume", "--epochs", "2")
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertEqual(read_bytes(self.last), before)
                self.assertEqual(epochs_in(self.run), [1])

    def test_a_disk_that_fails_to_read_a_whole_file_is_not_taken_for_damage(self):
        # a resume, the grid's cut-short run and the graded checkpoint's score all read .pth files: an I/O error
        # is one line, and nothing is set aside or kept as "damaged"
        def eio(*args, **kwargs):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        def eio_inside_torch(*args, **kwargs):
            try:
                eio()
            except OSError:
                raise RuntimeError("PytorchStreamReader failed reading file data/0") from None
        before = read_bytes(self.last)
        for failing in (eio, eio_inside_torch):
            with self.subTest(failing=failing.__name__), mock.patch("checkpointing.torch.load", failing):
                status, _, err = self.run.main("--resume", "--epochs", "2")
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn(f"{os.strerror(errno.EIO)}; check the disk", err)
                args = config.run_arguments(self.run.config, [("epochs", 2)], device=torch.device("cpu"))
                with self.assertRaises(OSError):  # not None: a grid would set the finished epochs aside
                    run_state.resumable_state(args, self.run.path("runs", "tiny"))
                status, _, err = self.run.main("--epochs", "1", "--name", "other")  # the graded file's score
                self.assertEqual(status, 2)
                self.assertIn(f"{'checkpoints/twolayernet.pth'.replace('/', os.sep)}: {os.strerror(errno.EIO)}",
                              err)
        self.assertEqual(read_bytes(self.last), before)
        self.assertNotIn("tiny.1", os.listdir(self.run.path("runs")))  # the finished epoch was not set aside

    @unittest.skipUnless(hasattr(os, "mkfifo"), "named pipes are POSIX's")
    def test_a_last_pth_that_is_a_named_pipe_is_one_line_not_a_wait(self):
        os.remove(self.last)
        os.mkfifo(self.last)  # nothing writes to it: opening it for reading would wait for ever

        def release_a_waiting_reader():  # so that a regression fails this test rather than hangs the suite
            with contextlib.suppress(OSError):  # ENXIO: no reader waits, as it should be
                os.close(os.open(self.last, os.O_WRONLY | os.O_NONBLOCK))
        timer = threading.Timer(20, release_a_waiting_reader)
        timer.start()
        self.addCleanup(timer.cancel)
        status, _, err = self.run.main("--resume", "--epochs", "2")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("not a regular file", err)


class FullDisk(Scratch):
    def test_a_failed_write_is_one_line_and_keeps_the_old_file(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        last = self.run.path("runs", "tiny", "last.pth")
        before = read_bytes(last)

        def no_space(obj, f, *args, **kwargs):
            f.write(b"partial")
            raise OSError(28, "No space left on device", f.name)
        with mock.patch("checkpointing.torch.save", no_space):
            status, _, err = self.run.main("--epochs", "2", "--resume")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("No space left on device; free some disk space, then continue with python main.py ", err)
        self.assertTrue(err.endswith(" --resume\n"), err)  # not "run again", which would start afresh
        self.assertEqual(read_bytes(last), before)
        leftovers = [name for folder, _, names in os.walk(self.run.folder) for name in names if name.endswith(".tmp")]
        self.assertEqual(leftovers, [])
        self.assertEqual(self.run.main("--epochs", "2", "--resume")[0], 0)  # once there is space again
        self.assertEqual(epochs_in(self.run), [1, 2])

    def test_before_any_epoch_is_saved_a_failed_write_says_run_again(self):
        def no_space(obj, f, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", f.name)
        with mock.patch("checkpointing.torch.save", no_space):
            status, _, err = self.run.main("--epochs", "1")
        self.assertEqual(status, 2)
        self.assertTrue(err.endswith("No space left on device; free some disk space, then run again\n"), err)
        self.assertFalse(os.path.exists(self.run.path("runs", "tiny", "last.pth")))

    def test_a_full_disk_at_the_figures_names_the_resume_that_draws_them(self):
        with mock.patch("runlog.RunLog.plot_learning_curves", side_effect=OSError(errno.ENOSPC, "No space left")):
            status, _, err = self.run.main("--epochs", "1")
        self.assertEqual(status, 2)
        self.assertIn("No space left; free some disk space, then continue with python main.py ", err)
        status, out, _ = self.run.main("--epochs", "1", "--resume")  # nothing to train: it draws them
        self.assertEqual(status, 0)
        self.assertIn("nothing to train", out)
        self.assertTrue(os.path.isfile(self.run.path("runs", "tiny", "learning_curves.png")))


    def test_a_disk_that_fills_inside_torch_save_is_the_same_one_line(self):
        # torch.save turns a failed write into RuntimeError("[enforce fail at inline_container.cc...] unexpected
        # pos"): a traceback, until the OSError behind it was raised instead
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        last = self.run.path("runs", "tiny", "last.pth")
        before = read_bytes(last)

        class FillsUp:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                if self.f.tell() + len(data) > 2000:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return self.f.write(data)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.f.__exit__(*exc)

        real_open = open

        def filling_open(path, mode="r", *args, **kwargs):
            f = real_open(path, mode, *args, **kwargs)
            return FillsUp(f) if mode == "wb" and ".pth" in os.path.basename(path) else f
        with mock.patch("files.open", filling_open, create=True):
            status, _, err = self.run.main("--epochs", "2", "--resume")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn(f"{os.strerror(errno.ENOSPC)}; free some disk space", err)
        self.assertEqual(read_bytes(last), before)
        self.assertEqual(self.run.main("--epochs", "2", "--resume")[0], 0)


    @unittest.skipIf(files.fcntl is None, "flock is POSIX's")
    def test_a_file_system_that_cannot_lock_is_one_line(self):
        # NFS without a lock daemon answers flock with ENOLCK: not another run holding the folder
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        before = read_bytes(self.run.path("runs", "tiny", "last.pth"))
        no_locks = OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
        for first_failing in (1, 2):  # the run folder's lock, then the graded checkpoint's
            with self.subTest(first_failing=first_failing):
                calls, real_flock = [], files.fcntl.flock

                def flock(*args):
                    calls.append(1)
                    if len(calls) >= first_failing:
                        raise no_locks
                    return real_flock(*args)
                with mock.patch.object(files.fcntl, "flock", flock):
                    status, _, err = self.run.main("--epochs", "2", "--resume")
                self.assertEqual(status, 2)
                one_line(self, err)
                self.assertIn(f"{os.strerror(errno.ENOLCK)}; keep the kit on a local disk", err)
                self.assertNotIn("in use by another run", err)
                self.assertEqual(read_bytes(self.run.path("runs", "tiny", "last.pth")), before)


class CtrlC(Scratch):
    def interrupt_at_call(self, number, *arguments):
        calls = []
        real_train = main.train

        def train(*args, **kwargs):
            calls.append(1)
            if len(calls) == number:
                raise KeyboardInterrupt
            return real_train(*args, **kwargs)
        with mock.patch.object(main, "train", train):
            return self.run.main(*arguments)

    def test_in_the_first_epoch_nothing_is_offered_for_resume(self):
        status, _, err = self.interrupt_at_call(1, "--epochs", "2")
        self.assertEqual(status, 130)
        self.assertIn("nothing to resume", err)
        self.assertNotIn("--resume", err)
        self.assertFalse(os.path.exists(self.run.path("runs", "tiny", "last.pth")))

    def test_later_the_finished_epochs_resume(self):
        status, _, err = self.interrupt_at_call(2, "--epochs", "2")
        self.assertEqual(status, 130)
        self.assertIn("holds epoch 1:", err)
        self.assertIn("--resume", err)
        self.assertEqual(load(self.run.path("runs", "tiny", "last.pth"))["epoch"], 1)
        self.assertEqual(self.run.main("--epochs", "2", "--resume")[0], 0)
        self.assertEqual(epochs_in(self.run), [1, 2])

    def test_the_command_to_continue_is_quoted_for_the_shell(self):
        arguments = ["--config", "my configs/tiny ü.yaml", "--set", "data_dir=it's here"]
        with mock.patch("sys.argv", ["main.py", *arguments]):
            note = str(run_state.interruption(types.SimpleNamespace(folder="runs/tiny", rows=[{"epoch": 1}]),
                                              "in epoch 2", None, KeyboardInterrupt()))
        again = note.split("continue with python main.py ")[1]
        if os.name == "nt":
            self.assertEqual(again, '--config "my configs/tiny ü.yaml" --set "data_dir=it\'s here" --resume')
        else:
            self.assertEqual(shlex.split(again), [*arguments, "--resume"])
        self.assertEqual(run_state.command_line(["--resume"]), "--resume")  # nothing quoted that needs none

    def test_during_the_writes_of_an_epoch_it_is_saved_whole_first(self):
        real_save = torch.save

        def save(obj, f, *args, **kwargs):  # Ctrl-C while writing best.pth, the first of epoch 1's files
            signal.raise_signal(signal.SIGINT)
            return real_save(obj, f, *args, **kwargs)
        with mock.patch.object(torch, "save", save):
            status, _, err = self.run.main("--epochs", "2")
        self.assertEqual(status, 130)
        one_line(self, err.strip())
        self.assertIn("holds epoch 1:", err)
        self.assertEqual(load(self.run.path("runs", "tiny", "last.pth"))["epoch"], 1)
        self.assertEqual(epochs_in(self.run), [1])
        load(self.run.path("runs", "tiny", "best.pth"))


    def test_while_the_figures_are_drawn_the_run_is_whole_and_a_resume_draws_them(self):
        real_plot = RunLog.plot_learning_curves

        def plot(run, title):  # Ctrl-C as the figures are drawn, after the last epoch was saved
            signal.raise_signal(signal.SIGINT)
            return real_plot(run, title)
        with mock.patch.object(RunLog, "plot_learning_curves", plot):
            status, _, err = self.run.main("--epochs", "2")
        self.assertEqual(status, 130)
        one_line(self, err.strip())
        self.assertIn("as its figures were drawn; runs", err)
        self.assertIn("holds epochs 1-2: continue with", err)
        os.remove(self.run.path("runs", "tiny", "learning_curves.png"))  # as if the Ctrl-C had come just before it
        status, out, _ = self.run.main("--epochs", "2", "--resume")
        self.assertEqual(status, 0)
        self.assertIn("nothing to train", out)
        self.assertTrue(os.path.exists(self.run.path("runs", "tiny", "learning_curves.png")))

    def test_as_a_resume_starts_the_finished_epochs_are_still_offered(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        with mock.patch.object(checkpointing, "restore_run_state", side_effect=KeyboardInterrupt):
            status, _, err = self.run.main("--epochs", "2", "--resume")
        self.assertEqual(status, 130)
        one_line(self, err.strip())
        self.assertIn("as the run started; runs", err)
        self.assertIn("still holds its finished epochs: continue with", err)
        with mock.patch.object(main, "load_training_set", side_effect=KeyboardInterrupt):  # before the folder
            status, _, err = self.run.main("--epochs", "2", "--resume")
        self.assertEqual(status, 130)
        self.assertIn("before the run went on; its folder is as it was", err)
        self.assertEqual(self.run.main("--epochs", "2", "--resume")[0], 0)
        self.assertEqual(epochs_in(self.run), [1, 2])


class AmpAuto(Scratch):
    def saved_amp(self):
        return load(self.run.path("runs", "tiny", "last.pth"))["settings"]["amp"]

    def test_auto_is_decided_at_the_start_recorded_and_kept_on_resume(self):
        for faster in (True, False):
            with self.subTest(faster=faster), mock.patch.object(main, "bf16_is_faster", return_value=faster):
                status, out, err = self.run.main("--epochs", "1", "--amp", "auto")
                self.assertEqual(status, 0, err)
                self.assertIn(f"bf16 autocast {'on' if faster else 'off'}", out)
                self.assertIs(self.saved_amp(), faster)
                with open(self.run.path("runs", "tiny", "config.yaml")) as f:
                    self.assertIn(f"amp: {str(faster).lower()}", f.read())
        measured = mock.Mock(side_effect=AssertionError("a resume must not measure again"))
        with mock.patch.object(main, "bf16_is_faster", measured):  # the run above decided False
            status, _, err = self.run.main("--epochs", "2", "--amp", "auto", "--resume")
        self.assertEqual(status, 0, err)
        self.assertIs(self.saved_amp(), False)
        status, _, err = self.run.main("--epochs", "3", "--amp", "true", "--resume")
        self.assertEqual(status, 2)
        self.assertIn("amp", err)

    def test_a_run_saved_before_amp_existed_resumes_in_fp32(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        last = self.run.path("runs", "tiny", "last.pth")
        state = load(last)
        del state["settings"]["amp"]  # a last.pth of a version without the setting: it trained in fp32
        torch.save(state, last)
        with mock.patch.object(main, "bf16_is_faster", side_effect=AssertionError("a resume must not measure")):
            status, _, err = self.run.main("--epochs", "2", "--amp", "auto", "--resume")
        self.assertEqual(status, 0, err)
        self.assertIs(self.saved_amp(), False)


class TestEvery(Scratch):
    def test_only_every_nth_epoch_and_the_last_are_tested(self):
        status, out, err = self.run.main("--epochs", "5", "--test-every", "2")
        self.assertEqual(status, 0, err)
        with open(self.run.path("runs", "tiny", "metrics.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([row["epoch"] for row in rows], ["1", "2", "3", "4", "5"])
        self.assertEqual([row["test_acc"] != "" for row in rows], [False, True, False, True, True])
        self.assertTrue(all(row["acc_cat"] == "" for row in rows[::2][:2]))
        best = load(self.run.path("runs", "tiny", "last.pth"))["best"]
        self.assertIn(best["epoch"], (2, 4, 5))
        self.assertEqual(best["accuracy"], max(float(row["test_acc"]) for row in rows if row["test_acc"]))
        untested = [line for line in out.splitlines() if line.split()[:1] == ["1"]]
        self.assertEqual(len(untested), 1)
        self.assertEqual(untested[0].split()[4], "-")
        self.assertTrue(os.path.exists(self.run.path("runs", "tiny", "learning_curves.png")))


class DeferredReweighting(Scratch):
    def test_the_epochs_before_reweight_from_train_unweighted(self):
        def train_losses(name, *settings):
            # the step profile keeps 10 images of each of the last five classes (5000 * 0.002) of the tiny set
            sets = [item for setting in ("imbalance=imbalance", "imb_type=step", "imb_factor=0.002", *settings)
                    for item in ("--set", setting)]
            status, _, err = self.run.main("--epochs", "2", "--name", name, *sets)
            self.assertEqual(status, 0, err)
            with open(self.run.path("runs", name, "metrics.csv"), newline="") as f:
                return [float(row["train_loss"]) for row in csv.DictReader(f)]
        plain = train_losses("plain")
        deferred = train_losses("deferred", "reweight=true", "reweight_from=2")
        weighted = train_losses("weighted", "reweight=true")
        self.assertEqual(deferred[0], plain[0])  # epoch 1: the same unweighted loss, the same numbers
        self.assertNotEqual(deferred[1], plain[1])
        self.assertNotEqual(weighted[0], plain[0])

    def test_reweight_from_without_reweight_is_one_line(self):
        status, _, err = self.run.main("--set", "reweight_from=3")
        self.assertEqual(status, 2)
        one_line(self, err)
        self.assertIn("reweight_from = 3 needs loss.reweight = True", err)
        self.assertFalse(os.path.exists(self.run.path("runs", "tiny")))


class WhitenedStem(Scratch):
    def test_the_stem_is_fitted_to_the_first_training_images_and_training_and_resuming_keep_it(self):
        arguments = ("--set", "model=MyModel-GPU", "--batch-size", "50", "--name", "gpu")
        status, _, err = self.run.main("--epochs", "1", *arguments)
        self.assertEqual(status, 0, err)
        images = Cifar(self.run.path("cifar-10-batches-py"), train=True).data[:main.STEM_IMAGES]
        expected = MyModel(widths=(24, 8), whitened_stem=True)
        expected.fit_stem(normalise(torch.from_numpy(images).permute(0, 3, 1, 2)))
        first = load(self.run.path("runs", "gpu", "last.pth"))["model"]
        status, _, err = self.run.main("--epochs", "2", "--resume", *arguments)
        self.assertEqual(status, 0, err)
        second = load(self.run.path("runs", "gpu", "last.pth"))["model"]
        for saved in (first, second):
            torch.testing.assert_close(saved["stem.conv.weight"], expected.stem.conv.weight, rtol=1e-5, atol=1e-6)
        self.assertFalse(torch.equal(first["stem.conv.bias"], second["stem.conv.bias"]))  # its bias trains


class LearningCurves(unittest.TestCase):
    def test_labelled_axes_titled_by_run_and_model_and_whole_epochs(self):
        with tempfile.TemporaryDirectory() as folder:
            log = RunLog(os.path.join(folder, "one-epoch"), CLASS_NAMES)
            log.start({}, "test")
            log.add(dict(epoch=1, lr=0.1, train_loss=1.3, train_acc=0.5, test_acc=0.7, seconds=1.0), [0.7] * 10)
            figure = log.plot_learning_curves("runs/one-epoch: TwoLayerNet")
            self.assertGreater(os.path.getsize(os.path.join(folder, "one-epoch", "learning_curves.png")), 1000)
        self.assertEqual(figure._suptitle.get_text(), "runs/one-epoch: TwoLayerNet")
        loss_axes, accuracy_axes, rate_axes = figure.axes
        self.assertEqual(accuracy_axes.get_ylim(), (0, 1))  # runs compare at a glance
        self.assertEqual(rate_axes.get_yscale(), "log")  # steps of 10x are even steps
        for axes in figure.axes:
            self.assertEqual(axes.get_xlabel(), "epoch")
            self.assertIn("(", axes.get_ylabel())  # a quantity and its unit
            ticks = [tick for tick in axes.get_xticks() if axes.get_xlim()[0] <= tick <= axes.get_xlim()[1]]
            self.assertEqual(ticks, [1.0])


    def test_each_panel_plots_its_own_column_and_untested_epochs_are_left_out(self):
        rows = [dict(epoch=epoch, lr=0.1 / epoch, train_loss=2.0 - epoch / 10, train_acc=0.1 * epoch,
                     test_acc=0.05 * epoch if epoch % 2 == 0 else math.nan, seconds=1.0) for epoch in (1, 2, 3, 4)]
        with tempfile.TemporaryDirectory() as folder:
            log = RunLog(os.path.join(folder, "run"), CLASS_NAMES)
            log.start({}, "test")
            for row in rows:
                log.add(row, [row["test_acc"]] * 10)
            loss_axes, accuracy_axes, rate_axes = log.plot_learning_curves("run").axes
        (loss,), (rate,) = loss_axes.get_lines(), rate_axes.get_lines()
        train, test = accuracy_axes.get_lines()
        self.assertEqual(list(loss.get_ydata()), [row["train_loss"] for row in rows])
        self.assertEqual(list(rate.get_ydata()), [row["lr"] for row in rows])
        self.assertEqual(list(train.get_ydata()), [row["train_acc"] for row in rows])
        self.assertEqual((list(test.get_xdata()), list(test.get_ydata())), ([2, 4], [0.1, 0.2]))


class ConsoleLines(unittest.TestCase):
    def test_every_class_is_in_the_final_summary_five_a_line(self):
        lines = runlog.format_per_class(CLASS_NAMES, [i / 10 for i in range(10)]).splitlines()
        self.assertEqual(len(lines), 2)
        for index, name in enumerate(CLASS_NAMES):
            self.assertIn(f"{name} {index / 10:.4f}", lines[index // 5])

    def test_the_header_names_each_figure_of_a_row_above_it_and_the_test_accuracy_prec_at_1(self):
        header = runlog.format_header()
        row = runlog.format_row(dict(epoch=12, lr=0.1, train_loss=1.25, train_acc=0.5, test_acc=0.625, seconds=2.0),
                                [i / 10 for i in range(10)])
        self.assertEqual(header.split()[:6], ["epoch", "lr", "train_loss", "train_acc", "Prec@1", "sec"])
        self.assertEqual(len(header), len(row))
        ends = [[match.end() for match in re.finditer(r"\S+", line)] for line in (header, row)]
        self.assertEqual(ends[0], ends[1])  # right-aligned: each figure ends under its label

    def test_small_learning_rates_keep_their_figures(self):
        for rate, shown in ((0.1, "0.1"), (5e-4, "0.0005"), (1e-5, "1e-05")):
            row = dict(epoch=1, lr=rate, train_loss=1.0, train_acc=0.5, test_acc=0.5, seconds=2.0)
            self.assertEqual(runlog.format_row(row, [0.5] * 10).split()[1], shown)

    def test_an_untested_epoch_shows_a_dash_for_every_test_figure(self):
        row = dict(epoch=3, lr=0.1, train_loss=1.0, train_acc=0.5, test_acc=math.nan, seconds=2.0)
        line = runlog.format_row(row, [math.nan] * 10)
        self.assertEqual(line.split("|")[1].split(), ["-"] * 10)
        self.assertEqual(line.split()[4], "-")
        self.assertNotIn("nan", line)


class Evaluate(Scratch):
    def test_the_model_is_read_from_the_checkpoint(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        here = os.getcwd()
        os.chdir(self.run.folder)
        self.addCleanup(os.chdir, here)
        with mock.patch("sys.stdout") as out:
            status = main.main(["--evaluate", "checkpoints/twolayernet.pth", "--device", "cpu",
                                "--data-dir", "cifar-10-batches-py"])
        self.assertEqual(status, 0)
        printed = "".join(call.args[0] for call in out.write.call_args_list)
        self.assertIn("(TwoLayerNet) on 100 test images: Prec@1", printed)

    def test_evaluation_is_in_fp32_unless_asked_so_that_it_gives_the_quoted_figure(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        real_validate, amps = main.validate, []

        def validate(model, batches, classes, amp, **kwargs):
            amps.append(amp)
            return real_validate(model, batches, classes, amp, **kwargs)
        measured = mock.Mock(side_effect=AssertionError("--evaluate must not time bf16"))
        with mock.patch.object(main, "validate", validate), mock.patch.object(main, "bf16_is_faster", measured):
            for amp in ("auto", "false", "true"):
                status, out, err = self.run.main("--evaluate", "checkpoints/twolayernet.pth", "--amp", amp)
                self.assertEqual(status, 0, err)
                self.assertEqual("in bf16 autocast" in out, amp == "true")
        self.assertEqual(amps, [False, False, True])

    def test_flags_that_would_do_nothing_in_an_evaluation_are_refused_and_nothing_is_written(self):
        self.assertEqual(self.run.main("--epochs", "1")[0], 0)
        before = sorted(os.listdir(self.run.path("runs")))
        for flags, named in ((["--epochs", "3"], "--epochs would"), (["--name", "x"], "--name would"),
                             (["--set", "lr_schedule=linear", "--learning-rate", "0.5"],
                              "--lr-schedule, --learning-rate would")):
            with self.subTest(flags=flags):
                status, out, err = self.run.main("--evaluate", "checkpoints/twolayernet.pth", *flags)
                self.assertEqual((status, out), (2, ""))
                one_line(self, err)
                self.assertIn(named, err)
                self.assertIn("trains nothing", err)
        self.assertEqual(sorted(os.listdir(self.run.path("runs"))), before)
        status, out, err = self.run.main("--evaluate", "checkpoints/twolayernet.pth", "--batch-size", "7",
                                         "--channels-last", "--model", "TwoLayerNet")  # what it does read
        self.assertEqual((status, err), (0, ""))


if __name__ == "__main__":
    unittest.main()
