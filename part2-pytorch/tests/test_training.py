"""Training on a tiny synthetic CIFAR folder: the loss goes down, and main.py's runs, checkpoints, resume and
evaluate work end to end (main.main run in-process, in a scratch folder)."""
import copy
import csv
import os
import re
import types
import unittest
import warnings
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

import checkpointing
import main
import run_state
from config import load_config
from data import CLASS_NAMES, Cifar, DeviceBatches
from models import TwoLayerNet, VanillaCNN
from tests.helpers import ScratchRun
from training import Lookahead, sgd, train, validate


def read_metrics(run, config_name="tiny"):
    with open(run.path("runs", config_name, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def load_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_weights(test, first, second):
    test.assertEqual(first.keys(), second.keys())
    for name in first:
        test.assertTrue(torch.equal(first[name], second[name]), name)


class OneEpoch(unittest.TestCase):
    def test_one_epoch_lowers_the_loss(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        train_set = Cifar(run.path("cifar-10-batches-py"))
        torch.manual_seed(0)
        model = TwoLayerNet(3072, 64, 10)
        optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9)
        plain = DeviceBatches(train_set, 300, "cpu", train=False)

        def mean_loss():
            with torch.no_grad():
                return sum(F.cross_entropy(model(x), y, reduction="sum").item() for x, y in plain) / len(train_set)

        before = mean_loss()
        batches = DeviceBatches(train_set, 16, "cpu", train=True, generator=torch.Generator().manual_seed(0))
        train_loss, train_accuracy = train(model, batches, torch.nn.CrossEntropyLoss(), optimizer)
        self.assertLess(mean_loss(), 0.5 * before)
        self.assertGreater(train_accuracy, 0.2)
        self.assertLess(train_loss, before)


class FusedSgd(unittest.TestCase):
    def test_updates_match_torch_sgd_with_momentum_weight_decay_and_nesterov(self):
        for nesterov in (False, True):
            runs = []
            for make in (sgd, torch.optim.SGD):
                torch.manual_seed(0)
                model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
                optimizer = make(model.parameters(), 0.3, momentum=0.8, weight_decay=0.05, nesterov=nesterov)
                generator = torch.Generator().manual_seed(1)
                for _ in range(5):
                    inputs = torch.randn(9, 7, generator=generator, dtype=torch.float64)
                    loss = F.cross_entropy(model(inputs), torch.randint(0, 3, (9,), generator=generator))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                runs.append(list(model.parameters()))
            for ours, reference in zip(*runs):
                torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-14)


    def test_unfused_where_torch_has_no_fused_kernel_for_the_device(self):
        parameters = [torch.nn.Parameter(torch.ones(3, dtype=torch.float64))]
        self.assertTrue(sgd(parameters, 0.1).param_groups[0]["fused"])
        with mock.patch("torch.utils._foreach_utils._get_fused_kernels_supported_devices", return_value=["cuda"]), \
                mock.patch("torch.optim.sgd._fused_sgd", side_effect=RuntimeError("no fused kernel here")):
            optimizer = sgd(iter(parameters), 0.1, momentum=0.9)  # an iterator, as model.parameters() gives
            self.assertFalse(optimizer.param_groups[0]["fused"])
            for _ in range(2):
                parameters[0].grad = torch.full((3,), 2.0, dtype=torch.float64)
                optimizer.step()
        torch.testing.assert_close(parameters[0], torch.full((3,), 1 - 0.2 - (0.9 * 0.2 + 0.2), dtype=torch.float64))


class WeightAveraging(unittest.TestCase):
    def test_every_fifth_step_pulls_the_slow_weights_by_the_cubic_schedule_and_finish_ends_on_them(self):
        weight = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        optimizer = sgd([weight], 1.0)
        averaging = Lookahead(optimizer, steps_per_epoch=5, epochs=2)
        seen = []
        for epoch in (1, 2):
            for batch in range(5):
                weight.grad = -torch.ones(2, dtype=torch.float64)  # each step adds 1
                optimizer.step()
                averaging.after_step(epoch)(batch)
                seen.append(weight[0].item())
        # step 5: the slow weights start at 5 (decay 0.774 / 8 pulls them nowhere); step 10: 5 + (1 - 0.774) * 5
        self.assertEqual(seen[:5], [1, 2, 3, 4, 5])
        self.assertEqual(seen[5:9], [6, 7, 8, 9])
        self.assertAlmostEqual(seen[9], 5 + (1 - 0.95 ** 5) * 5, places=12)
        weight.data.fill_(100)
        averaging.finish()
        self.assertAlmostEqual(weight[0].item(), seen[9], places=12)

    def test_halfway_through_the_run_the_decay_is_the_cube_of_the_progress(self):
        weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        averaging = Lookahead(sgd([weight], 1.0), steps_per_epoch=10, epochs=2)  # 20 steps
        averaging.step(5)  # the slow weights start at 0
        weight.data.fill_(1.0)
        averaging.step(10)
        self.assertAlmostEqual(weight.item(), 1 - 0.95 ** 5 * (10 / 20) ** 3, places=12)

    def test_the_slow_weights_travel_in_the_optimisers_state(self):
        def steps(optimizer, weight, averaging, first, last):
            for step in range(first, last):
                weight.grad = torch.full_like(weight, float(step % 3) - 1)
                optimizer.step()
                averaging.step(step + 1)
        straight = torch.nn.Parameter(torch.arange(3.0, dtype=torch.float64))
        optimizer = sgd([straight], 0.5, momentum=0.9)
        averaging = Lookahead(optimizer, steps_per_epoch=4, epochs=5)
        steps(optimizer, straight, averaging, 0, 12)
        saved, weights = copy.deepcopy(optimizer.state_dict()), straight.detach().clone()  # as on disk
        steps(optimizer, straight, averaging, 12, 20)
        resumed = torch.nn.Parameter(weights)
        optimizer = sgd([resumed], 0.5, momentum=0.9)
        optimizer.load_state_dict(saved)
        steps(optimizer, resumed, Lookahead(optimizer, steps_per_epoch=4, epochs=5), 12, 20)
        self.assertTrue(torch.equal(resumed, straight))
        self.assertIn("slow", saved["state"][0])


class MainRuns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = ScratchRun()
        cls.status, cls.out, cls.err = cls.scratch.main()

    @classmethod
    def tearDownClass(cls):
        cls.scratch.close()

    def test_run_succeeds_with_one_aligned_row_per_epoch(self):
        self.assertEqual((self.status, self.err), (0, ""))
        rows = [line for line in self.out.splitlines() if re.match(r"\s+\d+ ", line)]
        self.assertEqual(len(rows), 2)
        header = next(line for line in self.out.splitlines() if line.lstrip().startswith("epoch"))
        self.assertTrue(all(len(row) == len(header) for row in rows))
        self.assertIn("Best Prec@1", self.out)

    def test_metrics_csv_has_every_epoch_with_the_kit_learning_rate(self):
        rows = read_metrics(self.scratch)
        self.assertEqual([int(row["epoch"]) for row in rows], [1, 2])
        self.assertEqual([float(row["lr"]) for row in rows], [0.1, 0.1])
        self.assertGreater(float(rows[-1]["test_acc"]), 0.3)  # the colours give the labels away
        for row in rows:  # plain numbers (not a tensor's repr), whose mean is the balanced test accuracy
            per_class = [float(row[f"acc_{name}"]) for name in CLASS_NAMES]
            self.assertTrue(all(0 <= value <= 1 for value in per_class), per_class)
            self.assertAlmostEqual(sum(per_class) / len(per_class), float(row["test_acc"]), places=6)

    def test_best_checkpoint_is_a_cpu_state_dict_matching_the_best_epoch(self):
        state = load_state(self.scratch.path("checkpoints", "twolayernet.pth"))
        self.assertEqual(set(state), {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})
        self.assertTrue(all(tensor.device.type == "cpu" for tensor in state.values()))
        last = load_state(self.scratch.path("runs", "tiny", "last.pth"))
        assert_same_weights(self, state, last["best"]["model"])
        self.assertEqual(last["epoch"], 2)
        self.assertEqual([name for name in os.listdir(self.scratch.path("checkpoints")) if name.endswith(".tmp")], [])

    def test_run_folder_has_plots_and_the_resolved_config(self):
        folder = self.scratch.path("runs", "tiny")
        for name in ("learning_curves.png", "confusion_matrix.png", "confusion_matrix.csv"):
            self.assertGreater(os.path.getsize(os.path.join(folder, name)), 100, name)
        resolved = load_config(os.path.join(folder, "config.yaml"))
        with open(os.path.join(folder, "config.yaml")) as f:
            self.assertIn("--seed 0", f.readline())
        self.assertEqual((resolved["epochs"], resolved["model"], resolved["gamma"]), (2, "TwoLayerNet", 0.0))

    def test_evaluate_reports_the_best_accuracy(self):
        status, out, err = self.scratch.main("--evaluate", "checkpoints/twolayernet.pth")
        self.assertEqual((status, err), (0, ""))
        best = max(float(row["test_acc"]) for row in read_metrics(self.scratch))
        self.assertIn(f"Prec@1 {best:.4f}", out)
        self.assertIn("airplane", out)

    def test_evaluate_with_the_wrong_model_says_which_model_fits(self):
        status, _, err = self.scratch.main("--evaluate", "checkpoints/twolayernet.pth", "--model", "VanillaCNN")
        self.assertEqual(status, 2)
        self.assertIn("does not fit model VanillaCNN; it fits TwoLayerNet", err)
        self.assertEqual(len(err.strip().splitlines()), 1)

    def test_unreadable_checkpoints_say_why_in_one_line(self):
        def write(name, data):
            with open(self.scratch.path(name), "wb") as f:
                f.write(data)
        write("text.pth", b"not a checkpoint\n")
        write("empty.pth", b"")
        torch.save({"fc1.weight": torch.zeros(2)}, self.scratch.path("whole.pth"))
        with open(self.scratch.path("whole.pth"), "rb") as f:
            write("truncated.pth", f.read()[:300])
        torch.save({"fc1.weight": torch.zeros(2), "note": Noted()}, self.scratch.path("object.pth"))
        weights = TwoLayerNet(3072, 256, 10).state_dict()  # of the right shapes, but no weights to load
        torch.save(weights, self.scratch.path("model.pth"))
        with open(self.scratch.path("model.pth"), "rb") as f:  # torch's reader seeks before a start under 64 KB
            write("cut_short.pth", f.read()[:20000])
        for kind, change in (("meta", lambda t: torch.empty_like(t, device="meta")), ("sparse", torch.Tensor.to_sparse),
                             ("complex", lambda t: t.to(torch.complex64)),
                             ("quantized", lambda t: torch.quantize_per_tensor(t, 0.1, 0, torch.qint8)),
                             ("nested", lambda t: torch.nested.nested_tensor([t]))):
            with warnings.catch_warnings():  # torch calls quantized and nested tensors deprecated, or prototypes
                warnings.simplefilter("ignore")
                changed = {name: change(tensor) for name, tensor in weights.items()}
            torch.save(changed, self.scratch.path(f"{kind}.pth"))
        not_saved = "not a file written by torch.save, or a damaged one"
        for path, message in (("text.pth", not_saved), ("empty.pth", not_saved), ("truncated.pth", not_saved),
                              ("cut_short.pth", not_saved),
                              ("object.pth", f"it holds a {__name__}.Noted object"),
                              ("whole.pth", "does not fit model TwoLayerNet; it fits none of TwoLayerNet, "),
                              ("meta.pth", "holds fc1.weight as a torch.strided, meta torch.float32 tensor"),
                              ("sparse.pth", "holds fc1.weight as a torch.sparse_coo"),
                              ("complex.pth", "cpu torch.complex64 tensor, not as weights"),
                              ("quantized.pth", "holds fc1.weight as a quantized torch.strided, cpu torch.qint8"),
                              ("nested.pth", "holds fc1.weight as a nested tensor, not as weights"),
                              ("absent.pth", "does not exist")):
            status, _, err = self.scratch.main("--evaluate", path)
            self.assertEqual(status, 2, path)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn(message, err)
            self.assertNotIn("weights_only` set to `False", err)  # torch's advice to turn the safety off
        with self.assertRaisesRegex(checkpointing.CheckpointError, "fits none of the kit's models .*another network"):
            main.model_of_checkpoint({"fc1.weight": torch.zeros(2)}, "whole.pth")  # --evaluate without --model


class Repeatability(unittest.TestCase):
    def test_same_seed_same_weights_and_resume_continues_exactly(self):
        straight, interrupted = ScratchRun(), ScratchRun()
        self.addCleanup(straight.close)
        self.addCleanup(interrupted.close)
        arguments = ("--model", "VanillaCNN", "--learning-rate", "0.01", "--warmup", "1", "--steps", "[1, 2]")
        self.assertEqual(straight.main(*arguments, "--epochs", "3")[0], 0)
        self.assertEqual(interrupted.main(*arguments, "--epochs", "2")[0], 0)
        status, out, _ = interrupted.main(*arguments, "--epochs", "3", "--resume")
        self.assertEqual(status, 0)
        self.assertIn("resuming", out)
        last_straight = load_state(straight.path("runs", "tiny", "last.pth"))
        last_resumed = load_state(interrupted.path("runs", "tiny", "last.pth"))
        assert_same_weights(self, last_straight["model"], last_resumed["model"])
        momentum = [{index: state["momentum_buffer"] for index, state in last["optimizer"]["state"].items()}
                    for last in (last_straight, last_resumed)]
        assert_same_weights(self, *momentum)
        columns = ("epoch", "lr", "train_loss", "train_acc", "test_acc")
        self.assertEqual([[row[c] for c in columns] for row in read_metrics(straight)],
                         [[row[c] for c in columns] for row in read_metrics(interrupted)])
        self.assertEqual([float(row["lr"]) for row in read_metrics(straight)], [0.01, 0.001, 0.0001])

    def test_resume_continues_alternate_flips_and_lookahead_exactly(self):
        straight, interrupted = ScratchRun(), ScratchRun()
        self.addCleanup(straight.close)
        self.addCleanup(interrupted.close)
        arguments = ("--model", "VanillaCNN", "--lr-schedule", "linear", "--flips", "alternate", "--lookahead",
                     "--batch-size", "20", "--epochs", "3")  # 5 steps an epoch: lookahead pulls in every epoch
        self.assertEqual(straight.main(*arguments)[0], 0)
        calls, real_train = [], main.train

        def stopped_in_the_second_epoch(*args, **kwargs):  # an even epoch: its flips are the first ones mirrored
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real_train(*args, **kwargs)
        with mock.patch.object(main, "train", stopped_in_the_second_epoch):
            self.assertEqual(interrupted.main(*arguments)[0], 130)
        self.assertEqual(interrupted.main(*arguments, "--resume")[0], 0)
        last_straight = load_state(straight.path("runs", "tiny", "last.pth"))
        last_resumed = load_state(interrupted.path("runs", "tiny", "last.pth"))
        assert_same_weights(self, last_straight["model"], last_resumed["model"])
        slow = [{index: state["slow"] for index, state in last["optimizer"]["state"].items()}
                for last in (last_straight, last_resumed)]
        assert_same_weights(self, *slow)
        names = [name for name, _ in VanillaCNN().named_parameters()]  # the optimiser's order
        for index, name in enumerate(names):  # the run ends on the average
            self.assertTrue(torch.equal(last_straight["model"][name], slow[0][index]), name)
        self.assertEqual([row["train_loss"] for row in read_metrics(straight)],
                         [row["train_loss"] for row in read_metrics(interrupted)])

    def test_lookahead_runs_keep_their_length_on_resume(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        self.assertEqual(run.main("--lookahead", "--epochs", "1")[0], 0)
        status, _, err = run.main("--lookahead", "--epochs", "2", "--resume")
        self.assertEqual(status, 2)
        self.assertIn("epochs", err)

    def test_a_different_seed_gives_different_weights(self):
        first, second = ScratchRun(), ScratchRun()
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        first.main("--epochs", "1", "--seed", "1")
        second.main("--epochs", "1", "--seed", "2")
        self.assertFalse(torch.equal(load_state(first.path("checkpoints", "twolayernet.pth"))["fc1.weight"],
                                     load_state(second.path("checkpoints", "twolayernet.pth"))["fc1.weight"]))

    def test_resume_without_a_run(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        status, _, err = run.main("--resume")
        self.assertEqual(status, 2)
        self.assertIn("last.pth does not exist", err)


class LongTailedRun(unittest.TestCase):
    def test_sigmoid_focal_with_reweighting_trains_on_imbalanced_data(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        status, out, err = run.main("--epochs", "1", "--set", "imbalance=imbalance", "--set", "imb_factor=0.002",
                                    "--loss-type", "SigmoidFocal", "--reweight", "true", "--gamma", "1")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("per class [30, 30, 30, 30, 30, 30, 30, 30, 19, 10]", out)  # 5000 * 0.002^(i/9), capped at 30
        self.assertEqual(len(read_metrics(run)), 1)


class Noted:
    """A plain object: torch.save keeps it, a weights-only load refuses it."""


class Unsaveable:
    class Error(Exception):
        pass

    def __reduce__(self):
        raise self.Error("cannot be saved")


class AtomicSave(unittest.TestCase):
    def test_a_failed_save_leaves_the_old_file_and_no_temporary(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        path = run.path("state.pth")
        checkpointing.save_atomically({"x": torch.ones(2)}, path)
        with self.assertRaises(Unsaveable.Error):
            checkpointing.save_atomically({"x": Unsaveable()}, path)  # fails half-way through the write
        torch.testing.assert_close(load_state(path)["x"], torch.ones(2))
        self.assertEqual([name for name in os.listdir(run.folder) if name.endswith(".tmp")], [])


class TrainAndValidate(unittest.TestCase):
    """train() and validate() on a few hand-made batches."""

    @staticmethod
    def batches(sizes, for_training=True):
        torch.manual_seed(0)
        made = [(torch.randn(size, 3, 32, 32), torch.randint(0, 10, (size,))) for size in sizes]
        return [(images, labels, 1.0) for images, labels in made] if for_training else made

    def test_each_batch_gets_its_own_rate_and_its_after_step_call(self):
        model = TwoLayerNet(3072, 8, 10)
        optimizer = sgd(model.parameters(), 0.1)
        rates, steps, step = [], [], optimizer.step
        optimizer.step = lambda: rates.append(optimizer.param_groups[0]["lr"]) or step()
        train(model, self.batches([4, 4, 4]), nn.CrossEntropyLoss(), optimizer,
              rate_at_batch=lambda batch: 0.1 * (batch + 1), after_step=steps.append)
        self.assertEqual(rates, [0.1 * 1, 0.1 * 2, 0.1 * 3])
        self.assertEqual(steps, [0, 1, 2])

    def test_the_loss_is_a_mean_per_image_not_per_batch(self):
        losses = iter([1.0, 3.0])
        model = TwoLayerNet(3072, 8, 10)
        loss, _ = train(model, self.batches([4, 1]), lambda logits, labels: logits.sum() * 0 + next(losses),
                        sgd(model.parameters(), 0.0))
        self.assertAlmostEqual(loss, (4 * 1.0 + 1 * 3.0) / 5)

    def test_validate_tests_in_eval_mode_and_leaves_the_batch_statistics_alone(self):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                              nn.Linear(4 * 30 * 30, 10)).train()
        before = copy.deepcopy(model.state_dict())
        batches = self.batches([6, 5], for_training=False)
        confusion = validate(model, batches, 10)
        for name, tensor in model.state_dict().items():
            self.assertTrue(torch.equal(tensor, before[name]), name)
        model.eval()
        with torch.no_grad():
            expected = sum(torch.bincount(labels * 10 + model(images).argmax(dim=1), minlength=100).reshape(10, 10)
                           for images, labels in batches)
        self.assertTrue(torch.equal(confusion, expected))


class CheckpointShapes(unittest.TestCase):
    def test_a_state_dict_fits_by_names_and_shapes(self):
        state = TwoLayerNet(3072, 256, 10).state_dict()
        self.assertEqual(checkpointing.models_fitting(state), ["TwoLayerNet"])
        transposed = dict(state, **{"fc1.weight": state["fc1.weight"].T})  # the right names, a wrong shape
        self.assertEqual(checkpointing.models_fitting(transposed), [])
        with self.assertRaisesRegex(checkpointing.CheckpointError, "does not fit model TwoLayerNet; it fits none"):
            checkpointing.load_into(TwoLayerNet(3072, 256, 10), transposed, "TwoLayerNet", "x.pth")


class Snapshots(unittest.TestCase):
    def test_a_cpu_state_dict_is_a_copy_that_training_leaves_alone(self):
        model = TwoLayerNet(3072, 8, 10)
        snapshot = checkpointing.cpu_state_dict(model)
        kept = snapshot["fc1.weight"].clone()
        with torch.no_grad():
            model.fc1.weight.add_(1.0)
        self.assertTrue(torch.equal(snapshot["fc1.weight"], kept))

    def test_one_value_that_is_not_finite_makes_the_weights_not_finite(self):
        nan, inf = float("nan"), float("inf")
        self.assertFalse(checkpointing.all_finite({"a": torch.tensor([1.0, nan]), "b": torch.ones(2)}))
        self.assertFalse(checkpointing.all_finite({"a": torch.ones(2), "b": torch.tensor([-inf, 1.0])}))
        self.assertTrue(checkpointing.all_finite({"a": torch.ones(2), "batches": torch.tensor([3])}))

    def test_a_loss_or_weights_that_are_not_finite_is_each_divergence(self):
        run, args = types.SimpleNamespace(rows=[], last_path="last.pth"), types.SimpleNamespace(learning_rate=0.1)
        for loss, weights_finite in ((float("nan"), True), (float("inf"), True), (1.0, False)):
            with self.subTest(loss=loss, weights_finite=weights_finite), self.assertRaises(run_state.Diverged):
                run_state.check_finite(loss, weights_finite, run, 2, args)
        run_state.check_finite(1.0, True, run, 2, args)  # finite: no error


if __name__ == "__main__":
    unittest.main()
