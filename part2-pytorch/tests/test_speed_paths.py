"""The speed options (bf16 autocast, channels-last, torch.compile), the benchmark, and the CUDA paths.

CUDA tests skip without a GPU; everything else runs on the CPU.
"""
import argparse
import contextlib
import io
import unittest
import warnings
from unittest import mock

import torch

import bench
from config import load_config
from data import DeviceBatches
from models import TwoLayerNet, VanillaCNN
from tests.helpers import ScratchRun
from tests.test_training import load_state
import device
from device import compiled, float64_device
from training import autocast, sgd, train, validate

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
        with mock.patch.object(torch, "compile", wraps=torch.compile) as compile_:
            status, _, err = compiled.main("--epochs", "1", "--compile", "default")
        self.assertEqual(status, 0, err)
        self.assertTrue(compile_.called)  # the run did go through the compiler
        first = load_state(straight.path("runs", "tiny", "last.pth"))["model"]
        second = load_state(compiled.path("runs", "tiny", "last.pth"))["model"]
        for name in first:
            torch.testing.assert_close(second[name], first[name], rtol=1e-4, atol=1e-5)


class Devices(unittest.TestCase):
    def test_auto_picks_cuda_then_mps_then_cpu_and_a_missing_device_is_refused(self):
        for available, chosen in ((["cpu", "mps", "cuda", "cuda:0"], "cuda"), (["cpu", "mps"], "mps"),
                                  (["cpu"], "cpu")):
            with self.subTest(available=available), mock.patch.object(device, "available_devices", lambda: available):
                self.assertEqual(device.choose_device("auto"), torch.device(chosen))
        with mock.patch.object(device, "available_devices", lambda: ["cpu", "cuda", "cuda:0"]):
            self.assertEqual(device.choose_device("cuda:0"), torch.device("cuda:0"))
            with self.assertRaisesRegex(ValueError, "device 'cuda:9' is not available here; choose auto or one of "
                                                    "cpu, cuda, cuda:0"):
                device.choose_device("cuda:9")

    def test_synchronise_waits_for_the_device_it_is_given(self):
        with mock.patch("torch.cuda.synchronize") as cuda, mock.patch("torch.mps.synchronize") as mps:
            device.synchronise(torch.device("cuda:1"))
            device.synchronise(torch.device("mps"))
            device.synchronise(torch.device("cpu"))  # nothing queued: nothing to wait for
        cuda.assert_called_once_with(torch.device("cuda:1"))
        mps.assert_called_once_with()

    def test_memory_format_and_compile_modes(self):
        self.assertIs(device.memory_format(True), torch.channels_last)
        self.assertIs(device.memory_format(False), torch.contiguous_format)
        model = torch.nn.Linear(2, 2)
        with mock.patch.object(torch, "compile", side_effect=lambda m, mode: ("compiled", m, mode)) as compile_:
            self.assertIs(device.compiled(model, "none"), model)
            compile_.assert_not_called()
            self.assertEqual(device.compiled(model, "default"), ("compiled", model, None))  # torch's own default
            self.assertEqual(device.compiled(model, "max-autotune"), ("compiled", model, "max-autotune"))

    def test_a_compiler_failure_is_its_first_line_and_other_errors_are_not_one(self):
        import torch._dynamo.exc as dynamo_errors
        failure = dynamo_errors.BackendCompilerFailed.__new__(dynamo_errors.BackendCompilerFailed)
        Exception.__init__(failure, "InvalidCxxCompiler: No working C++ compiler found\n" + "detail\n" * 50)
        self.assertEqual(device.compile_failure(failure),
                         "torch.compile cannot compile here (InvalidCxxCompiler: No working C++ compiler found)")
        Exception.__init__(failure, "x" * 500)
        self.assertEqual(device.compile_failure(failure), f"torch.compile cannot compile here ({'x' * 200})")
        self.assertIsNone(device.compile_failure(RuntimeError("CUDA out of memory")))

    def test_bf16_is_chosen_only_when_measured_faster_and_leaves_the_random_stream_alone(self):
        def clock(bf16_seconds, fp32_seconds):  # perf_counter's readings: 12 turns, fp32 and bf16 in turn
            readings, now = [], 0.0
            for turn in range(12):
                readings += [now, now + (bf16_seconds if turn % 2 else fp32_seconds)]
                now += 10
            return mock.patch.object(device.time, "perf_counter", side_effect=readings)
        cpu = torch.device("cpu")
        with clock(bf16_seconds=1.0, fp32_seconds=3.0):
            self.assertTrue(device.bf16_is_faster(cpu))
        with clock(bf16_seconds=3.0, fp32_seconds=1.0):
            self.assertFalse(device.bf16_is_faster(cpu))
        with clock(bf16_seconds=0.9, fp32_seconds=1.0):  # 10% is within timing noise
            self.assertFalse(device.bf16_is_faster(cpu))
        self.assertFalse(device.bf16_is_faster(torch.device("mps")))  # no timing: MPS has no fast bf16
        torch.manual_seed(0)
        state = torch.get_rng_state()
        device.bf16_is_faster(cpu)
        self.assertTrue(torch.equal(torch.get_rng_state(), state))  # a run's seed gives the same run with amp auto


class Mps(unittest.TestCase):
    """Apple GPUs have no float64: the sums that want it run on the CPU."""

    def test_float64_work_for_mps_goes_to_the_cpu_and_stays_on_other_devices(self):
        self.assertEqual(float64_device("mps"), torch.device("cpu"))
        self.assertEqual(float64_device("cuda:1"), torch.device("cuda:1"))
        self.assertEqual(float64_device(torch.device("cpu")), torch.device("cpu"))

    @unittest.skipUnless(torch.backends.mps.is_available(), "needs an Apple GPU (none here)")
    def test_a_run_trains_on_mps(self):
        run = ScratchRun()
        self.addCleanup(run.close)
        status, _, err = run.main("--device", "mps", "--epochs", "1")
        self.assertEqual((status, err), (0, ""))


class Benchmark(unittest.TestCase):
    def run_main(self, *arguments):
        err = io.StringIO()
        with mock.patch("sys.argv", ["bench.py", *arguments]), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()), self.assertRaises(SystemExit) as stop:
            bench.main()
        return stop.exception.code, err.getvalue()

    def test_sizes_past_any_machine_and_endless_timings_are_one_line(self):
        for arguments, message in ((["--seconds", "inf"], "at most 3600"),
                                   (["--images", str(10**12)], "at most 1000000"),
                                   (["--setting", "100000"], "from 1 to 50000"),
                                   (["--setting", "4096", "--images", "1000"], "larger than the 1000 images")):
            with self.subTest(arguments=arguments):
                status, err = self.run_main(*arguments)
                self.assertEqual(status, 2)
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(message, err)

    def test_running_out_of_memory_is_one_line(self):
        refused = RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory")
        with mock.patch("bench.measure", side_effect=refused):
            status, err = self.run_main("--models", "TwoLayerNet", "--device", "cpu")
        self.assertEqual(status, 2)
        self.assertEqual(err, "bench.py: error: out of memory for TwoLayerNet at 128 fp32 with 50000 images; lower "
                              "--images or the batch size\n")

    def test_settings(self):
        self.assertEqual(bench.parse_setting("512,amp,cl"), dict(batch_size=512, amp=True, channels_last=True))
        self.assertEqual(bench.parse_setting("128"), dict(batch_size=128, amp=False, channels_last=False))
        self.assertEqual(bench.parse_setting("64,cl"), dict(batch_size=64, amp=False, channels_last=True))
        self.assertEqual(bench.parse_setting("64,amp"), dict(batch_size=64, amp=True, channels_last=False))
        self.assertEqual(bench.describe(bench.parse_setting("64,amp,cl")), "64 bf16 cl")
        self.assertEqual(bench.describe(bench.parse_setting("64")), "64 fp32")
        for bad in ("0", "big", "128,fp16"):
            with self.subTest(setting=bad), self.assertRaises(argparse.ArgumentTypeError):
                bench.parse_setting(bad)

    def test_a_batch_as_large_as_the_images_is_allowed(self):
        with mock.patch.object(bench, "measure", side_effect=SystemExit(0)) as measure:  # stop before timing
            status, err = self.run_main("--setting", "64", "--images", "64", "--models", "TwoLayerNet",
                                        "--device", "cpu")
        self.assertEqual((status, err), (0, ""))
        measure.assert_called_once()

    def test_the_loops_see_the_setting_and_the_model_starts_the_same(self):
        cpu = torch.device("cpu")
        captured = []
        real_train = bench.train

        def train(model, batches, *args, **kwargs):
            captured.append(next(iter(batches.batches))[0])
            return real_train(model, batches, *args, **kwargs)
        with mock.patch.object(bench, "train", train):
            loops, _ = bench.make_loops("VanillaCNN", cpu, bench.parse_setting("16,cl"), 32, "none")
            loops["ours"](1)
        self.assertTrue(captured[0].is_contiguous(memory_format=torch.channels_last))  # as the model's weights
        for same_optimizer, ours_made in ((True, 2), (False, 1)):  # the bare loop's: main.py's, or torch's plain
            with mock.patch.object(bench, "sgd", wraps=bench.sgd) as ours:
                bench.make_loops("TwoLayerNet", cpu, bench.parse_setting("16"), 32, "none", same_optimizer)
            self.assertEqual(ours.call_count, ours_made, same_optimizer)
        first = bench.new_model("TwoLayerNet", cpu, bench.parse_setting("16"), "none").state_dict()
        torch.rand(10)  # whatever the random stream did in between
        again = bench.new_model("TwoLayerNet", cpu, bench.parse_setting("16"), "none").state_dict()
        self.assertTrue(all(torch.equal(first[key], again[key]) for key in first))

    def test_rounds_use_whole_batches_and_each_loop_takes_every_place_in_turn(self):
        order, sizes = [], []

        def make_loops(model_name, device, setting, image_count, *args):
            sizes.append(image_count)
            return {name: (lambda steps, name=name: order.append(name)) for name in bench.LOOPS}, None
        with mock.patch.object(bench, "make_loops", make_loops), \
                mock.patch.object(bench, "images_per_second", lambda loop, *args: loop(1) or 1.0):
            bench.measure("TwoLayerNet", torch.device("cpu"), bench.parse_setting("32"), 0, "none", image_count=100)
        self.assertEqual(sizes, [96])  # three batches of 32: no short last batch counted as a full one
        cycles = order[4:]  # after the warm-up of each loop and the ceiling's step timing
        self.assertEqual(cycles[:9], ["ours", "bare", "ceiling", "bare", "ceiling", "ours", "ceiling", "ours", "bare"])

    def test_every_loop_trains_the_model(self):
        for same_optimizer in (False, True):
            loops, model = bench.make_loops("TwoLayerNet", torch.device("cpu"), bench.parse_setting("16,cl"), 64,
                                            "none", same_optimizer)
            for name, loop in loops.items():
                with self.subTest(loop=name, same_optimizer=same_optimizer):
                    before = [p.detach().clone() for p in model.parameters()]
                    loop(2)
                    self.assertFalse(all(torch.equal(a, b) for a, b in zip(before, model.parameters())))

    def test_ratios_are_medians_of_each_cycles_own_ratio(self):
        # Fake loops: the machine's speed drifts between cycles (factor) and ours / bare differs per cycle, so the
        # median of the cycles' ratios (0.9) differs from the ratio of the medians (0.85).
        factor, ours_share = [1, 5, 2, 4, 3], [0.8, 1.0, 0.9, 0.95, 0.85]
        calls = []

        def timed(loop, steps, batch_size, device):
            calls.append(loop)
            cycle = max(0, len(calls) - 2) // 3  # the first call times the ceiling's step alone
            speed = {"ours": 100 * ours_share[cycle], "bare": 100, "ceiling": 120}[loop.__name__]
            return speed * factor[cycle]

        def fake(name):
            def loop(steps):
                pass
            loop.__name__ = name
            return loop
        loops = {name: fake(name) for name in bench.LOOPS}
        with mock.patch.object(bench, "make_loops", return_value=(loops, None)), \
                mock.patch.object(bench, "images_per_second", timed):
            rates, ratios, cycles, _ = bench.measure("TwoLayerNet", torch.device("cpu"), bench.parse_setting("16"),
                                                     seconds=0, compile_mode="none", image_count=64)
        self.assertEqual(cycles, 5)
        self.assertAlmostEqual(ratios["bare"], 0.9)
        self.assertAlmostEqual(ratios["ceiling"], 0.9 * 100 / 120)
        self.assertEqual(rates, {"ours": 255, "bare": 300, "ceiling": 360})

    def test_a_stream_goes_on_through_epochs_round_after_round(self):
        batches = DeviceBatches(bench.RandomImages(40), 16, torch.device("cpu"), train=True,
                                generator=torch.Generator().manual_seed(0))
        stream = bench.Stream(batches)
        stream.steps = 4
        sizes = [len(labels) for _ in range(2) for _, labels, _ in stream]  # 8 batches: 16, 16, 8, 16, 16, 8, 16, 16
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
        images, labels, _ = next(iter(batches))
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

    def test_our_training_step_under_cuda_graphs_matches_eager(self):
        """training.train on DeviceBatches with the model compiled as main.py compiles it (reduce-overhead:
        CUDA graphs): the same weights as eager training, to float tolerance."""
        images = torch.randint(0, 256, (256, 32, 32, 3), dtype=torch.uint8).numpy()
        dataset = type("Images", (), dict(data=images, targets=(torch.arange(256) % 10).tolist()))()
        weights = []
        for mode in ("none", "reduce-overhead"):
            torch.manual_seed(0)
            model = VanillaCNN().cuda()
            optimizer = sgd(model.parameters(), 0.01, momentum=0.9)
            batches = DeviceBatches(dataset, 64, torch.device("cuda"), train=True,
                                    generator=torch.Generator(device="cuda").manual_seed(0))
            trained = compiled(model, mode)
            for _ in range(3):
                train(trained, batches, torch.nn.CrossEntropyLoss(), optimizer)
            weights.append([p.detach().clone() for p in model.parameters()])
        for eager, graphed in zip(*weights):
            torch.testing.assert_close(graphed, eager, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    unittest.main()
