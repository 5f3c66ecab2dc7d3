"""The speed options (bf16 autocast, channels-last, torch.compile), the benchmark, and the CUDA paths.

CUDA tests skip without a GPU; everything else runs on the CPU.
"""
import unittest
import warnings

import torch
import torch.nn.functional as F

import bench
from config import load_config
from data import DeviceBatches
from models import TwoLayerNet, VanillaCNN
from tests.helpers import ScratchRun
from tests.test_training import load_state
from training import autocast, train, validate

NEEDS_CUDA = unittest.skipUnless(torch.cuda.is_available(), "needs a CUDA GPU (none here)")


class Options(unittest.TestCase):
    def test_boolean_switches_need_no_value_on_the_command_line(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        status, out, err = run.main("--epochs", "1", "--amp", "--channels-last", "--nesterov", "false")
        self.assertEqual((status, err), (0, ""))
        resolved = load_config(run.path("runs", "tiny", "config.yaml"))
        self.assertEqual((resolved["amp"], resolved["channels_last"], resolved["nesterov"]), (True, True, False))

    def test_amp_runs_forward_in_bfloat16_and_still_learns(self):
        torch.manual_seed(0)
        run = ScratchRun()
        self.addCleanup(run.close)
        from data import Cifar
        train_set = Cifar(run.path("cifar-10-batches-py"))
        model = VanillaCNN()
        with autocast(torch.device("cpu"), True):
            self.assertEqual(model(torch.randn(2, 3, 32, 32)).dtype, torch.bfloat16)
        with autocast(torch.device("cpu"), False):
            self.assertEqual(model(torch.randn(2, 3, 32, 32)).dtype, torch.float32)
        optimizer = torch.optim.SGD(model.parameters(), 0.001, momentum=0.9)
        batches = DeviceBatches(train_set, 30, "cpu", train=True, generator=torch.Generator().manual_seed(0))
        losses = [train(model, batches, torch.nn.CrossEntropyLoss(), optimizer, amp=True)[0] for _ in range(3)]
        self.assertLess(losses[-1], 0.5 * losses[0])
        self.assertTrue(all(p.dtype == torch.float32 for p in model.parameters()))  # weights stay float32
        test = DeviceBatches(Cifar(run.path("cifar-10-batches-py"), train=False), 64, "cpu", train=False)
        self.assertEqual(validate(model, test, 10, amp=True).sum().item(), 100)

    def test_compiled_training_matches_eager_training(self):
        straight, compiled = ScratchRun(), ScratchRun()
        self.addCleanup(straight.close)
        self.addCleanup(compiled.close)
        self.assertEqual(straight.main("--epochs", "1")[0], 0)
        status, _, err = compiled.main("--epochs", "1", "--compile", "default")
        self.assertEqual(status, 0, err)
        first = load_state(straight.path("runs", "tiny", "last.pth"))["model"]
        second = load_state(compiled.path("runs", "tiny", "last.pth"))["model"]
        for name in first:
            torch.testing.assert_close(second[name], first[name], rtol=1e-4, atol=1e-5)


class Benchmark(unittest.TestCase):
    def test_settings(self):
        self.assertEqual(bench.parse_setting("512,amp,cl"), dict(batch_size=512, amp=True, channels_last=True))
        self.assertEqual(bench.parse_setting("128"), dict(batch_size=128, amp=False, channels_last=False))
        for bad in ("0", "big", "128,fp16"):
            with self.subTest(setting=bad), self.assertRaises(Exception):
                bench.parse_setting(bad)

    def test_every_loop_trains_and_reports_a_rate(self):
        for same_optimizer in (False, True):
            with self.subTest(same_optimizer=same_optimizer):
                rates, ratios, rounds, steps = bench.measure(
                    "TwoLayerNet", torch.device("cpu"), bench.parse_setting("16,cl"), seconds=0.1,
                    compile_mode="none", image_count=100, same_optimizer=same_optimizer)
                self.assertEqual(set(rates), {"ours", "bare", "ceiling"})
                self.assertEqual(set(ratios), {"bare", "ceiling"})
                self.assertTrue(all(rate > 0 for rate in [*rates.values(), *ratios.values()]))
                self.assertGreaterEqual(rounds, 5)
                self.assertGreaterEqual(steps, 2)

    def test_a_stream_goes_on_through_epochs_round_after_round(self):
        batches = DeviceBatches(bench.RandomImages(40), 16, torch.device("cpu"), train=True,
                                generator=torch.Generator().manual_seed(0))
        stream = bench.Stream(batches)
        stream.steps = 4
        sizes = [len(labels) for _ in range(2) for _, labels in stream]  # 8 batches: 16, 16, 8, 16, 16, 8, 16, 16
        self.assertEqual(sizes, [16, 16, 8, 16, 16, 8, 16, 16])
        self.assertEqual(len(stream), 4)


@NEEDS_CUDA
class Cuda(unittest.TestCase):
    def test_the_dataset_stays_on_the_gpu_as_uint8(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        from data import Cifar
        batches = DeviceBatches(Cifar(run.path("cifar-10-batches-py")), 32, torch.device("cuda"), train=True,
                                generator=torch.Generator(device="cuda").manual_seed(0))
        store = batches.crops.windows
        self.assertEqual((store.device.type, store.dtype), ("cuda", torch.uint8))
        images, labels = next(iter(batches))
        self.assertEqual((images.device.type, labels.device.type, images.dtype), ("cuda", "cuda", torch.float32))

    def test_training_and_validation_wait_for_the_gpu_once_per_pass(self):
        """Synchronising calls (.item(), host copies, bincount) per batch would starve the GPU: count them."""
        def synchronisations(count, training):
            images = torch.randint(0, 256, (count, 32, 32, 3), dtype=torch.uint8).numpy()
            dataset = type("Images", (), dict(data=images, targets=[0] * count))()
            batches = DeviceBatches(dataset, 32, torch.device("cuda"), train=training,
                                    generator=torch.Generator(device="cuda").manual_seed(0))
            model = TwoLayerNet(3072, 64, 10).cuda()
            optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
            torch.cuda.set_sync_debug_mode("warn")
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    if training:
                        train(model, batches, torch.nn.CrossEntropyLoss(), optimizer, amp=True)
                    else:
                        validate(model, batches, 10)
            finally:
                torch.cuda.set_sync_debug_mode("default")
            return len(caught)
        for training in (True, False):
            synchronisations(64, training)  # first calls: cached constants, library initialisation
            with self.subTest(training=training):  # 2 batches or 10: the same count
                self.assertEqual(synchronisations(64, training), synchronisations(320, training))

    def test_cuda_graphs_step(self):
        torch.manual_seed(0)
        model = torch.compile(VanillaCNN().cuda(), mode="reduce-overhead")
        optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
        images, labels = torch.randn(64, 3, 32, 32, device="cuda"), torch.randint(0, 10, (64,), device="cuda")
        losses = []
        for _ in range(20):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        self.assertLess(losses[-1], losses[0])


if __name__ == "__main__":
    unittest.main()
