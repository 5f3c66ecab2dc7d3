"""DistributedDataParallel on the CPU (gloo): two ranks train one run; it must equal a single-process run.

The runs train TwoLayerNet (no BatchNorm, whose statistics would be per rank) with a global batch of 31, so every
batch splits unevenly (15 + 16) and the per-rank loss scaling is exercised too.
"""
import os
import socket
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import torch
import torch.multiprocessing as mp

import distributed
from tests.helpers import PART2, ScratchRun

CONFIG = """
Train: {batch_size: 31, learning_rate: 0.05, reg: 0.0005, epochs: 2, steps: [6, 8], warmup: 1, momentum: 0.9}
network: {model: TwoLayerNet}
data: {imbalance: regular, save_best: true, data_dir: cifar-10-batches-py}
loss: {loss_type: CE}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fit_in_process(rank, world_size, port, folder, config_path):
    """What main.main does for one rank, keeping the rank's final weights and metrics in rank<r>.pth."""
    import config
    import main

    torch.set_num_threads(1)
    os.chdir(folder)
    if world_size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    args = config.run_arguments(config_path, device=torch.device("cpu"))
    try:
        result = main.fit(args, distributed.start(args.device), run_name=f"ranks{world_size}", echo=lambda line: None)
    finally:
        distributed.stop()
    torch.save({"model": result["model"].state_dict(), "confusion": result["final"]},
               os.path.join(folder, f"ranks{world_size}_rank{rank}.pth"))


class TwoRanksMatchOneProcess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = ScratchRun(CONFIG)
        mp.spawn(fit_in_process, args=(2, free_port(), cls.scratch.folder, cls.scratch.config), nprocs=2)
        mp.spawn(fit_in_process, args=(1, None, cls.scratch.folder, cls.scratch.config), nprocs=1)

    @classmethod
    def tearDownClass(cls):
        cls.scratch.close()

    def result(self, world_size, rank):
        return torch.load(self.scratch.path(f"ranks{world_size}_rank{rank}.pth"), weights_only=True)

    def test_both_ranks_end_with_identical_weights(self):
        first, second = self.result(2, 0)["model"], self.result(2, 1)["model"]
        for name in first:
            self.assertTrue(torch.equal(first[name], second[name]), name)

    def test_two_ranks_compute_what_one_process_computes(self):
        single, ranks = self.result(1, 0)["model"], self.result(2, 0)["model"]
        for name in single:
            self.assertFalse(torch.equal(single[name], self.initial_weights()[name]), "the run must train")
            torch.testing.assert_close(ranks[name], single[name], rtol=1e-4, atol=1e-5)

    def test_metrics_cover_the_whole_test_set_across_ranks(self):
        confusion = self.result(2, 0)["confusion"]
        self.assertEqual(confusion.sum().item(), 100)  # 50 test images per rank, summed
        self.assertTrue(torch.equal(confusion, self.result(2, 1)["confusion"]))
        self.assertTrue(torch.equal(confusion, self.result(1, 0)["confusion"]))

    def test_only_rank_zero_writes(self):
        self.assertTrue(os.path.exists(self.scratch.path("runs", "ranks2", "metrics.csv")))
        with open(self.scratch.path("runs", "ranks2", "metrics.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 3)  # header and two epochs, written once

    def initial_weights(self):
        from models import TwoLayerNet
        torch.manual_seed(0)
        return TwoLayerNet(3072, 256, 10).state_dict()


class ShardsOfABatch(unittest.TestCase):
    def test_shards_tile_the_batch_with_sizes_differing_by_at_most_one(self):
        for count in (0, 1, 7, 31, 128):
            for parts in (1, 2, 3, 8):
                slices = [distributed.shard(count, part, parts) for part in range(parts)]
                self.assertEqual([s.start for s in slices[1:]], [s.stop for s in slices[:-1]])
                self.assertEqual((slices[0].start, slices[-1].stop), (0, count))
                sizes = [s.stop - s.start for s in slices]
                self.assertLessEqual(max(sizes) - min(sizes), 1)

    def test_a_single_process_is_not_distributed(self):
        self.assertEqual((distributed.rank(), distributed.world_size(), distributed.is_main()), (0, 1, True))
        tensor = torch.arange(3)
        self.assertIs(distributed.sum_across_ranks(tensor), tensor)


class StartingAndWrapping(unittest.TestCase):
    """start() and wrap() under torchrun, with the process group and CUDA calls mocked (no GPU, no peers)."""

    def test_each_rank_takes_the_gpu_of_its_local_rank_and_joins_once(self):
        environment = dict(WORLD_SIZE="4", RANK="3", LOCAL_RANK="1")  # the second rank of the second node
        with mock.patch.dict(os.environ, environment), mock.patch.object(torch.cuda, "set_device") as set_device, \
                mock.patch.object(distributed, "initialized", return_value=False), \
                mock.patch.object(torch.distributed, "init_process_group", create=True) as join:
            self.assertEqual(distributed.start(torch.device("cuda")), torch.device("cuda", 1))
        set_device.assert_called_once_with(torch.device("cuda", 1))
        join.assert_called_once()
        with mock.patch.dict(os.environ, environment), \
                mock.patch.object(distributed, "initialized", return_value=True), \
                mock.patch.object(torch.distributed, "init_process_group", create=True) as join:
            self.assertEqual(distributed.start(torch.device("cpu")), torch.device("cpu"))  # joined already
        join.assert_not_called()

    def test_sums_leave_their_input_alone_and_gpu_batchnorm_is_synchronised(self):
        store = torch.distributed.HashStore()
        torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
        self.addCleanup(torch.distributed.destroy_process_group)
        tensor = torch.arange(3.0)
        total = distributed.sum_across_ranks(tensor)
        self.assertIsNot(total, tensor)
        self.assertNotEqual(total.data_ptr(), tensor.data_ptr())  # the caller's running totals stay its own
        with mock.patch.object(torch.nn.parallel, "DistributedDataParallel", lambda model, **kwargs: model):
            for device, synchronised in (("cuda", True), ("cpu", False)):
                model = distributed.wrap(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)),
                                         torch.device(device))
                kinds = {type(module) for module in model.modules()}
                self.assertEqual(torch.nn.SyncBatchNorm in kinds, synchronised, device)


class Backends(unittest.TestCase):
    def test_nccl_only_between_gpus_of_a_build_that_has_it(self):
        # Windows builds of PyTorch have no NCCL: their GPU ranks meet over gloo
        for device, has_nccl, expected in [("cuda", True, "nccl"), ("cuda", False, "gloo"), ("cpu", True, "gloo")]:
            with self.subTest(device=device, has_nccl=has_nccl), \
                    mock.patch.object(torch.distributed, "is_nccl_available", lambda: has_nccl, create=True):
                self.assertEqual(distributed.backend(torch.device(device)), expected)

    def test_a_build_without_torch_distributed_is_one_process(self):
        with mock.patch.object(torch.distributed, "is_available", lambda: False), \
                mock.patch.object(torch.distributed, "is_initialized", side_effect=AssertionError("not there")):
            self.assertEqual((distributed.initialized(), distributed.rank(), distributed.world_size()), (False, 0, 1))


class Torchrun(unittest.TestCase):
    @unittest.skipIf(sys.platform == "win32", "torchrun's rendezvous asks for libuv, which PyTorch's Windows wheels "
                                              "lack (pytorch/pytorch#139990)")
    def test_torchrun_trains_one_run_with_rank_zero_speaking(self):
        scratch = ScratchRun(CONFIG)
        self.addCleanup(scratch.close)
        environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               os.path.join(PART2, "main.py"), "--config", scratch.config, "--device", "cpu"],
                              cwd=scratch.folder, env=environment, capture_output=True, text=True, timeout=300)
        # both ends of stderr: the first failing rank's own message comes first, the launcher's summary last
        self.assertEqual(done.returncode, 0, done.stderr if len(done.stderr) < 4000 else
                         f"{done.stderr[:2000]}\n...\n{done.stderr[-2000:]}")
        self.assertIn("x 2 ranks", done.stdout)
        self.assertEqual(done.stdout.count("Best Prec@1"), 1)
        self.assertTrue(os.path.exists(scratch.path("checkpoints", "twolayernet.pth")))


class EndOfProcess(unittest.TestCase):
    """A torchrun rank ends without the interpreter's shutdown, where gloo's threads can abort it; a single process
    exits as usual. Seen from outside: the exit status, the output flushed, and whether an atexit handler ran."""
    SCRIPT = ("import atexit, sys; sys.path.insert(0, {part2!r}); import distributed; "
              "atexit.register(lambda: open({marker!r}, 'w').close()); "
              "sys.stdout.write('no newline'); sys.stderr.write('none here either'); distributed.end_process(3)")

    def end(self, world_size):
        with tempfile.TemporaryDirectory() as folder:
            marker = os.path.join(folder, "shutdown-ran")
            environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # buffered
            done = subprocess.run([sys.executable, "-c", self.SCRIPT.format(part2=PART2, marker=marker)],
                                  env=dict(environment, WORLD_SIZE=str(world_size)), capture_output=True, text=True,
                                  timeout=120)
            return done.returncode, done.stdout, done.stderr, os.path.exists(marker)

    def test_a_torchrun_rank_skips_the_shutdown_with_its_output_flushed(self):
        self.assertEqual(self.end(2), (3, "no newline", "none here either", False))

    def test_a_single_process_shuts_down_as_usual(self):
        self.assertEqual(self.end(1), (3, "no newline", "none here either", True))


if __name__ == "__main__":
    unittest.main()
