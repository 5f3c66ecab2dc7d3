import concurrent.futures
import contextlib
import csv
import io
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

import torch

import config
import experiments
import results_csv
import grids
import longtail_plots
import main
import run_state
from tests.helpers import PART2, alive, write_cifar_folder


def fake_row(run, acc):
    return dict(run, test_acc=acc, seconds=1.0, **{f"class_{c}": acc for c in range(10)})


def keys(runs):
    return [grids.row_key(run) for run in runs]


class Grid(unittest.TestCase):
    def test_cpu_grid_covers_every_loss_beta_factor_and_headline_seeds(self):
        runs = grids.grid_runs("cpu")
        # per factor: CE + 4 betas x (CB-CE, 3 focal gammas, sigmoid) = 21, plus 2 more seeds of 2 headline rows
        self.assertEqual(len(runs), 2 * (21 + 4))
        self.assertEqual(len(set(keys(runs))), len(runs))
        focal = [r for r in runs if r["loss_type"] == "Focal" and r["imb_factor"] == 0.01]
        self.assertEqual(sorted({(r["beta"], r["gamma"]) for r in focal}),
                         sorted((b, g) for b in grids.BETAS for g in (0.5, 1.0, 2.0)))
        headline = [r for r in runs if r["loss_type"] == "Focal" and r["beta"] == 0.9999 and r["gamma"] == 1.0]
        self.assertEqual(sorted(r["seed"] for r in headline), [0, 0, 1, 1, 2, 2])
        self.assertEqual({(r["epochs"], r["overrides"]) for r in runs}, {(8, "")})

    def test_rows_read_back_from_csv_have_the_same_key(self):
        runs = grids.grid_runs("cpu")[:3]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sub", "longtail.csv")
            results_csv.write_rows(path, [fake_row(run, 0.5) for run in runs])
            rows = results_csv.read_rows(path)
            self.assertEqual([name for name in os.listdir(os.path.dirname(path)) if name.endswith(".tmp")], [])
        self.assertEqual(keys(rows), keys(runs))
        self.assertEqual(list(rows[0])[:11], ["grid", "model", "imb_type", "imb_factor", "loss_type", "reweight",
                                              "beta", "gamma", "seed", "epochs", "overrides"])


class Overrides(unittest.TestCase):
    """A row records what ran: the resolved settings after --set, and the --set pairs that changed anything."""

    def test_epochs_override_is_recorded_and_is_not_the_full_grid(self):
        short = grids.grid_runs("cpu", [("epochs", 1)])
        self.assertEqual({(r["epochs"], r["overrides"]) for r in short}, {(1, "epochs=1")})
        full = grids.grid_runs("cpu")
        self.assertFalse(set(keys(short)) & set(keys(full)))
        with tempfile.TemporaryDirectory() as tmp:  # the short runs on disk do not count as the grid done
            path = os.path.join(tmp, "longtail.csv")
            results_csv.write_rows(path, [fake_row(run, 0.5) for run in short])
            rows = results_csv.read_rows(path)
        self.assertEqual({(r["epochs"], r["overrides"]) for r in rows}, {("1", "epochs=1")})
        self.assertEqual(set(keys(rows)), set(keys(short)))
        self.assertFalse(set(keys(rows)) & set(keys(full)))

    def test_overrides_are_resolved_values_that_differ_from_the_config(self):
        def overrides(*pairs):
            return grids.grid_runs("cpu", list(pairs))[0]["overrides"]
        self.assertEqual(overrides(("learning_rate", "1e-2")), "learning_rate=0.01")
        self.assertEqual(overrides(("learning_rate", 0.01)), overrides(("learning_rate", "1e-2")))
        self.assertEqual(overrides(("warmup", 1), ("amp", True)), "amp=true warmup=1")  # sorted by key
        self.assertEqual(overrides(("steps", [5, 7])), "steps=[5,7]")
        self.assertEqual(overrides(("learning_rate", 0.002)), "")  # the config's own value changes nothing
        self.assertEqual(overrides(("compile", "default"), ("channels_last", True)), "")  # speed only
        a, b = (grids.grid_runs("cpu", [("learning_rate", rate)])[0] for rate in (0.01, 0.003))
        self.assertNotEqual(grids.row_key(a), grids.row_key(b))

    def test_the_grid_settings_cannot_be_set(self):
        with self.assertRaisesRegex(config.ConfigError, "--set beta is not allowed: the grid sets beta"):
            grids.grid_runs("cpu", [("beta", 0.5)])

    def test_a_csv_without_the_overrides_column_is_read_as_no_overrides(self):
        runs = grids.grid_runs("cpu")[:2]
        old_columns = [c for c in grids.COLUMNS if c != "overrides"]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "longtail.csv")
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, old_columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerow(fake_row(runs[0], 0.5))
            self.assertEqual(keys(results_csv.read_rows(path)), keys(runs[:1]))
            results_csv.append_row(path, fake_row(runs[1], 0.6))
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        self.assertEqual([row["overrides"] for row in rows], ["", ""])
        self.assertEqual(keys(rows), keys(runs))


class Shards(unittest.TestCase):
    def test_shards_are_disjoint_and_cover_the_grid(self):
        runs = grids.grid_runs("cpu")
        for n in (1, 2, 3, 7):
            parts = [grids.shard_of(runs, (k, n)) for k in range(1, n + 1)]
            self.assertEqual(sum(len(part) for part in parts), len(runs))
            self.assertEqual(sorted(k for part in parts for k in keys(part)), sorted(keys(runs)))
        self.assertEqual(results_csv.shard_path("results/longtail.csv", (2, 4)), "results/longtail.shard-2-of-4.csv")

    def list_lines(self, *arguments):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(experiments.main_cli(["--grid", "cpu", "--list", *arguments]), 0)
        return out.getvalue().splitlines()

    def test_a_shard_writes_its_own_file_unless_results_is_given(self):
        for arguments, expected in ((["--shard", "1/2"], os.path.join("results", "longtail.shard-1-of-2.csv")),
                                    (["--shard", "2/2", "--results", "elsewhere.csv"], "elsewhere.csv"),
                                    ([], os.path.join("results", "longtail.csv"))):
            with self.subTest(arguments=arguments), mock.patch("experiments.run_grid") as run_grid:
                self.assertEqual(experiments.main_cli(["--grid", "cpu", *arguments]), 0)
                self.assertEqual(os.path.normpath(run_grid.call_args.args[3]), expected)

    def test_the_shards_lists_are_the_grids_list_split(self):
        with tempfile.TemporaryDirectory() as tmp:
            results = os.path.join(tmp, "longtail.csv")
            whole = self.list_lines("--results", results)
            header, runs = whole[0], whole[1:]
            self.assertEqual(header.split(), ["status"] + grids.KEY_COLUMNS)
            parts = [self.list_lines("--results", results, "--shard", f"{k}/3")[1:] for k in (1, 2, 3)]
        self.assertEqual(sorted(line.split() for part in parts for line in part), sorted(l.split() for l in runs))
        self.assertEqual([len(part) for part in parts], [17, 17, 16])

    def test_runs_done_in_any_shard_file_count_as_done_and_are_read_once(self):
        runs = grids.grid_runs("cpu")
        with tempfile.TemporaryDirectory() as tmp:
            results_csv.write_rows(os.path.join(tmp, "longtail.shard-1-of-2.csv"), [fake_row(runs[0], 0.5)])
            results_csv.write_rows(os.path.join(tmp, "longtail.shard-2-of-2.csv"),
                                   [fake_row(runs[1], 0.5), fake_row(runs[0], 0.5)])
            rows = results_csv.read_all(os.path.join(tmp, "longtail.csv"))
            lines = self.list_lines("--results", os.path.join(tmp, "longtail.csv"))
        self.assertEqual(keys(rows), keys(runs[:2]))
        self.assertEqual([line.split()[0] for line in lines[1:4]], ["done", "done", "todo"])

    def test_a_run_in_two_files_is_read_from_the_first(self):
        run = grids.grid_runs("cpu")[0]
        with tempfile.TemporaryDirectory() as tmp:
            results_csv.write_rows(os.path.join(tmp, "longtail.csv"), [fake_row(run, 0.5)])
            results_csv.write_rows(os.path.join(tmp, "longtail.shard-1-of-2.csv"), [fake_row(run, 0.25)])
            rows = results_csv.read_all(os.path.join(tmp, "longtail.csv"))
        self.assertEqual([float(row["test_acc"]) for row in rows], [0.5])

    def test_a_row_read_back_as_text_is_the_same_run(self):
        run = grids.grid_runs("cpu")[0]
        as_written = {column: str(value) for column, value in run.items()}  # as csv reads it back
        for column, text in (("reweight", str(run["reweight"]).upper()), ("imb_factor", "0.010"), ("beta", "0.0"),
                             ("gamma", "0")):
            with self.subTest(column=column, text=text):
                self.assertEqual(grids.row_key(dict(as_written, **{column: text})), grids.row_key(run))


def in_child(code):
    """Run Python code in a child process from this folder (so it can import experiments)."""
    return subprocess.run([sys.executable, "-c", code], cwd=PART2, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


class Files(unittest.TestCase):
    def test_the_next_writer_removes_what_a_killed_writer_left(self):
        runs = grids.grid_runs("cpu")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "longtail.csv")
            results_csv.write_rows(path, [fake_row(runs[0], 0.5)])
            # a writer that dies while it holds the lock, half-way through its temp file (os._exit: no cleanup
            # runs, as under SIGKILL, on every system)
            child = in_child("import os, results_csv\n"
                             f"with results_csv.results_lock({tmp!r}):\n"
                             f"    open({path!r} + f'.{{os.getpid()}}.tmp', 'w').write('grid,mod')\n"
                             "    os._exit(9)\n")
            self.assertEqual(child.returncode, 9, child.stderr)
            leftovers = [name for name in os.listdir(tmp) if name.endswith(".tmp")]
            self.assertEqual(len(leftovers), 1)
            for name in ("longtail.csv.tmp", "longtail_beta_sweep.png.77.tmp", "notes.tmp"):
                open(os.path.join(tmp, name), "w").close()
            writer = threading.Thread(target=results_csv.append_row, args=(path, fake_row(runs[1], 0.6)))
            writer.start()
            writer.join(30)
            self.assertFalse(writer.is_alive(), "the dead writer's lock was not released")
            self.assertEqual(sorted(name for name in os.listdir(tmp) if name.endswith(".tmp")), ["notes.tmp"])
            self.assertEqual(keys(results_csv.read_rows(path)), keys(runs[:2]))

    def test_two_processes_appending_at_once_lose_no_row(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "longtail.csv")
            code = ("import sys, results_csv, grids\n"
                    "from tests.test_experiments import fake_row\n"
                    "run = grids.grid_runs('cpu')[0]\n"
                    "for i in range(25):\n"
                    f"    results_csv.append_row({path!r}, fake_row(dict(run, seed=sys.argv[1] + str(i)), 0.5))\n")
            children = [subprocess.Popen([sys.executable, "-c", code, first], cwd=PART2,
                                         env=dict(os.environ, OMP_NUM_THREADS="1")) for first in ("1", "2")]
            self.assertEqual([child.wait(120) for child in children], [0, 0])
            seeds = sorted(row["seed"] for row in results_csv.read_rows(path))
            self.assertEqual(sorted(name for name in os.listdir(tmp) if not name.startswith(".")), ["longtail.csv"])
        self.assertEqual(seeds, sorted(f"{first}{i}" for first in "12" for i in range(25)))


class Workers(unittest.TestCase):
    """How the runs are spread: never more workers than runs, the cores shared out among the workers."""

    @mock.patch("torch.cuda.is_available", return_value=False)
    @mock.patch("torch.backends.mps.is_available", return_value=False)
    @mock.patch("os.cpu_count", return_value=8)
    def test_cpu_workers_share_the_cores_and_a_lone_run_gets_them_all(self, *_):
        self.assertEqual(experiments.worker_devices(0, 5), [("cpu", 4)] * 2)  # the default: two
        self.assertEqual(experiments.worker_devices(0, 1), [("cpu", 8)])
        self.assertEqual(experiments.worker_devices(4, 3), [("cpu", 2)] * 3)
        self.assertEqual(experiments.worker_devices(16, 40), [("cpu", 1)] * 16)

    @mock.patch("torch.cuda.is_available", return_value=False)
    @mock.patch("torch.backends.mps.is_available", return_value=True)
    @mock.patch("os.cpu_count", return_value=8)
    def test_an_apple_gpu_takes_one_worker_unless_asked_as_main_py_would_train_on_it(self, *_):
        self.assertEqual(experiments.worker_devices(0, 5), [("mps", 8)])
        self.assertEqual(experiments.worker_devices(2, 5), [("mps", 4)] * 2)

    @mock.patch("torch.cuda.is_available", return_value=True)
    @mock.patch("torch.cuda.device_count", return_value=2)
    def test_gpu_workers_take_the_gpus_in_turn(self, *_):
        self.assertEqual(experiments.worker_devices(0, 5), [("cuda:0", 1), ("cuda:1", 1)])
        self.assertEqual(experiments.worker_devices(0, 1), [("cuda:0", 1)])
        self.assertEqual(experiments.worker_devices(5, 3), [("cuda:0", 1), ("cuda:1", 1), ("cuda:0", 1)])


class StoppedPool(unittest.TestCase):
    def test_workers_ended_at_once_are_reported_ended(self):
        # the pool's own thread reaps ended workers too; a check that lost that race once in five stops took an
        # ended worker for a live one, and the stopped grid then left its temporary files behind
        context = multiprocessing.get_context("spawn")
        for attempt in range(15):
            pool = concurrent.futures.ProcessPoolExecutor(2, mp_context=context)
            for _ in range(3):
                pool.submit(time.sleep, 60)
            while len(pool._processes) < 2 or not all(p.pid for p in pool._processes.values()):
                time.sleep(0.01)
            processes = list(pool._processes.values())
            started = time.monotonic()
            self.assertTrue(experiments.stop_workers(pool), f"stop {attempt}")
            self.assertLess(time.monotonic() - started, 5)
            deadline = time.monotonic() + 2  # a worker's files close a moment before its process is gone
            while os.path.isdir("/proc/self") and any(alive(p.pid) for p in processes) and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual([p.pid for p in processes if os.path.isdir("/proc/self") and alive(p.pid)], [])


class CoresOfFinishedRuns(unittest.TestCase):
    """A CPU run takes the cores that runs which finished have left: the pool's workers share a count of the runs
    in progress, and each run sets its threads from it once an epoch."""

    def setUp(self):
        self.addCleanup(torch.set_num_threads, torch.get_num_threads())
        self.addCleanup(setattr, experiments, "_runs_in_progress", experiments._runs_in_progress)
        experiments._runs_in_progress = multiprocessing.get_context("spawn").Value("i", 0)

    @mock.patch("os.cpu_count", return_value=4)
    def test_a_run_left_alone_takes_every_core(self, _):
        with experiments.counted_run():
            with experiments.counted_run():  # another worker's run
                self.assertEqual(experiments._runs_in_progress.value, 2)
                experiments.take_free_cores(2)
                self.assertEqual(torch.get_num_threads(), 2)
            experiments.take_free_cores(2)
            self.assertEqual(torch.get_num_threads(), 4)
        self.assertEqual(experiments._runs_in_progress.value, 0)

    @mock.patch("os.cpu_count", return_value=4)
    def test_a_failed_run_leaves_the_count(self, _):
        with self.assertRaises(RuntimeError), experiments.counted_run():
            raise RuntimeError("diverged")
        self.assertEqual(experiments._runs_in_progress.value, 0)

    @mock.patch("os.cpu_count", return_value=2)
    def test_never_fewer_threads_than_the_pool_gave(self, _):
        for _ in range(3):  # three runs on two cores (--workers 3): one thread each, not zero
            experiments._runs_in_progress.value += 1
        experiments.take_free_cores(1)
        self.assertEqual(torch.get_num_threads(), 1)


@mock.patch.dict(os.environ, {grids.TEST_GRIDS_VARIABLE: "1"})
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
                    self.assertEqual((row["epochs"], row["overrides"]), ("8", ""))  # channels_last: speed only
                    self.assertTrue(0 <= float(row["test_acc"]) <= 1)
                    per_class = [float(row[f"class_{c}"]) for c in range(10)]
                    self.assertAlmostEqual(sum(per_class) / 10, float(row["test_acc"]), places=3)  # balanced test set
                status, out = self.run_cli("--grid", "micro", "--data-dir", folder, "--results", results)
                self.assertIn("0 runs to do, 2 already", out)
                results_csv.write_rows(results, rows[:1])  # as if interrupted after one run
                status, out = self.run_cli("--grid", "micro", "--list", "--results", results)
                self.assertEqual([line.split()[0] for line in out.splitlines()], ["status", "done", "todo"])
                status, out = self.run_cli("--grid", "micro", "--list", "--results", results, "--set", "epochs=1")
                self.assertEqual([line.split()[0] for line in out.splitlines()], ["status", "todo", "todo"])
                run_folders = [name for name in os.listdir(os.path.join(tmp, "runs", "longtail"))
                               if not name.startswith(".")]  # .<run>.lock: each run's lock
                self.assertEqual(sorted(run_folders),
                                 ["micro_0.1_CE_rwFalse_b0.0_g0.0_s0_e8", "micro_0.1_Focal_rwTrue_b0.999_g1.0_s0_e8"])
            finally:
                os.chdir(here)

    def test_a_run_cut_short_goes_on_from_its_last_epoch_and_ends_as_if_never_stopped(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_cifar_folder(tmp)[0]
            results = os.path.join(tmp, "results", "longtail.csv")
            here = os.getcwd()
            os.chdir(tmp)
            try:
                self.assertEqual(self.run_cli("--grid", "micro", "--workers", "1", "--data-dir", folder,
                                              "--results", results)[0], 0)
                uninterrupted = results_csv.read_rows(results)
                run = grids.grid_runs("micro")[1]
                run_folder = os.path.join("runs", experiments.run_folder(run))
                epochs_seen, real_train = [], main.train

                def ctrl_c_in_epoch_4(*arguments, **options):
                    epochs_seen.append(len(epochs_seen) + 1)
                    if len(epochs_seen) == 4:
                        raise KeyboardInterrupt
                    return real_train(*arguments, **options)
                os.replace(run_folder, run_folder + ".whole")
                # the same run again, in this process on the threads a lone worker gets, cut short in epoch 4
                with mock.patch("main.train", ctrl_c_in_epoch_4), self.assertRaises(run_state.Interrupted):
                    experiments.run_one(run, grids.available_grids()["micro"].config, folder, [],
                                        *experiments.worker_devices(1, 1)[0])
                self.assertEqual(len(epochs_seen), 4)
                results_csv.write_rows(results, uninterrupted[:1])  # its row gone: the grid runs it again
                cut_short = torch.load(os.path.join(run_folder, "last.pth"), weights_only=True)
                for row in cut_short["rows"]:  # the finished epochs' time counts in the run's, however long
                    row["seconds"] = 1000.0
                torch.save(cut_short, os.path.join(run_folder, "last.pth"))

                status, out = self.run_cli("--grid", "micro", "--workers", "1", "--data-dir", folder,
                                           "--results", results)
                self.assertEqual(status, 0, out)
                self.assertIn("1 runs to do (1 with a last.pth to go on from)", out)
                resumed = results_csv.read_rows(results)[1]
                for column in ["test_acc"] + grids.CLASS_COLUMNS:
                    self.assertEqual(resumed[column], uninterrupted[1][column], column)
                self.assertGreaterEqual(float(resumed["seconds"]), 1000.0 * len(cut_short["rows"]))
                with open(os.path.join(run_folder, "metrics.csv"), newline="") as f:
                    self.assertEqual([row["epoch"] for row in csv.DictReader(f)], [str(e) for e in range(1, 9)])
                last = torch.load(os.path.join(run_folder, "last.pth"), weights_only=True)
                whole = torch.load(os.path.join(run_folder + ".whole", "last.pth"), weights_only=True)
                self.assertEqual(last["epoch"], 8)
                for name, tensor in whole["model"].items():
                    self.assertTrue(torch.equal(tensor, last["model"][name]), name)
                self.assertFalse(os.path.exists(run_folder + ".1"))  # resumed in place, not set aside
            finally:
                os.chdir(here)

    def test_a_bad_setting_stops_before_any_run(self):
        for setting, message in (("compile=fastest", "network.compile = 'fastest' is not allowed"),
                                 ("gamma=2", "--set gamma is not allowed: the grid sets gamma for each run")):
            with self.subTest(setting=setting), tempfile.TemporaryDirectory() as tmp:
                results = os.path.join(tmp, "results", "longtail.csv")
                err = io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.chdir(tmp):  # where a run folder would go
                    status, out = self.run_cli("--grid", "micro", "--set", setting, "--results", results)
                self.assertEqual(status, 2)
                self.assertIn(message, err.getvalue())
                self.assertNotIn("runs to do", out)
                self.assertEqual(os.listdir(tmp), [])  # no results folder, no CSV


class Plots(unittest.TestCase):
    def test_tables_and_plots_from_a_csv(self):
        runs = [r for r in grids.grid_runs("cpu") if r["imb_factor"] == 0.01]
        rows = [fake_row(run, 0.6 if run["loss_type"] == "Focal" and run["beta"] == 0.999 else 0.5) for run in runs]
        rows += [fake_row(run, 0.9) for run in grids.grid_runs("cpu", [("epochs", 1)])[:3]]  # left out
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "longtail.csv")
            results_csv.write_rows(path, rows)
            written = experiments.draw_plots(path, tmp)
            self.assertEqual(sorted(os.path.basename(p) for p in written),
                             ["longtail_beta_sweep.png", "longtail_class_counts.png",
                              "longtail_per_class_100to1.png", "longtail_tables.md"])
            for file in written:
                with open(file, "rb") as f:
                    data = f.read()
                self.assertTrue(file.endswith(".md") or data.startswith(b"\x89PNG"), file)
                self.assertGreater(len(data), 500)
            self.assertEqual([name for name in os.listdir(tmp) if name.endswith(".tmp")], [])
            with open(os.path.join(tmp, "longtail_tables.md"), encoding="utf-8") as f:
                tables = f.read()
        summary = longtail_plots.summarise(longtail_plots.rows_of_grid(rows, "cpu"))
        best = longtail_plots.best_class_balanced(summary, 0.01)
        self.assertEqual((best.loss, best.beta), ("CB-Focal g=0.5", 0.999))  # the first of the 0.6 rows by name
        self.assertEqual(summary[longtail_plots.baseline(0.01)].seeds, 3)
        self.assertIn("| 100:1 | CE | - | 0.5000 | 3 | 0.0000 |", tables)
        self.assertIn("| 100:1 | CB-Focal g=0.5 | 0.999 | 0.6000 | 1 | - |", tables)  # one seed: no spread to show
        self.assertNotIn("0.9000", tables)

    def test_rows_that_all_ran_with_overrides_give_a_clear_error_and_no_file(self):
        rows = [fake_row(run, 0.5) for run in grids.grid_runs("resnet32-cpu", [("epochs", 1)])]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "longtail.csv")
            results_csv.write_rows(path, rows)
            with self.assertRaises(FileNotFoundError) as caught:
                experiments.draw_plots(path, tmp)
            self.assertEqual(sorted(os.listdir(tmp)), [".experiments.lock", "longtail.csv"])
        self.assertIn("ran with --set overrides", str(caught.exception))

    def test_a_grid_of_one_beta_gets_its_losses_side_by_side(self):
        rows = [fake_row(run, 0.5 + 0.01 * run["seed"]) for run in grids.grid_runs("resnet32-cpu")]
        files = longtail_plots.outputs(rows)
        self.assertEqual(sorted(files), ["longtail_resnet32-cpu_class_counts.png", "longtail_resnet32-cpu_losses.png",
                                         "longtail_resnet32-cpu_per_class_100to1.png",
                                         "longtail_resnet32-cpu_tables.md"])
        figure = longtail_plots.plot_losses(rows, longtail_plots.summarise(rows))
        axes = figure.axes[0]
        self.assertEqual([tick.get_text() for tick in axes.get_xticklabels()],
                         ["CE", "CB-Focal g=1\nbeta 0.9999", "CB-Sigmoid g=1\nbeta 0.9999"])
        self.assertEqual([round(bar.get_height(), 4) for bar in axes.patches], [0.51] * 3)  # the mean of 3 seeds
        dots = sorted(y for line in axes.lines for y in line.get_ydata())
        self.assertEqual([round(y, 4) for y in dots], [0.5] * 3 + [0.51] * 3 + [0.52] * 3)
        self.assertIn("ResNet-32, grid resnet32-cpu", figure.get_suptitle())
        self.assertIn("| 100:1 | CB-Sigmoid g=1 | 0.9999 | 0.5100 | 3 | 0.0100 |",  # std of 0.50, 0.51, 0.52
                      files["longtail_resnet32-cpu_tables.md"].decode())

    def test_the_spread_is_the_sample_standard_deviation_from_two_seeds_and_zero_for_one(self):
        runs = [run for run in grids.grid_runs("resnet32-cpu") if run["loss_type"] == "CE"]  # seeds 0, 1, 2
        for seeds, spread in ((2, 0.0141421), (1, 0.0)):  # two: |0.50 - 0.52| / sqrt(2)
            rows = [fake_row(run, 0.5 + 0.02 * run["seed"]) for run in runs[:seeds]]
            result = longtail_plots.summarise(rows)[longtail_plots.baseline(0.01)]
            self.assertEqual((result.seeds, round(result.spread, 7)), (seeds, spread))

    def test_figures_name_their_axes_model_and_grid(self):
        rows = [fake_row(run, 0.5) for run in grids.grid_runs("cpu")]
        summary = longtail_plots.summarise(rows)
        figures = [longtail_plots.plot_class_counts(rows), longtail_plots.plot_beta_sweep(rows, summary),
                   longtail_plots.plot_per_class(rows, summary, 0.1)]
        for figure in figures:
            titles = " ".join([figure.get_suptitle()] + [axes.get_title() for axes in figure.axes])
            self.assertIn("VanillaCNN, grid cpu", titles)
            for axes in figure.axes:
                self.assertTrue(axes.get_xlabel() and axes.get_ylabel())
        self.assertIn("(balanced test set, fraction)", figures[1].axes[0].get_ylabel())
        counts = figures[0].axes[0]
        self.assertEqual(counts.get_ylabel(), "training images per class (log scale)")
        self.assertTrue(all(re.fullmatch(r"\d+", tick.get_text()) for tick in counts.get_yticklabels()))
        lefts = sorted(round(bar.get_x(), 3) for bar in counts.patches)  # side by side: no bar hides another
        self.assertEqual(len(set(lefts)), len(lefts))

    def test_class_counts_without_data(self):
        from data import IMBALANCECIFAR10
        self.assertEqual(IMBALANCECIFAR10.get_img_num_per_cls(10, "exp", 0.01),
                         [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])


if __name__ == "__main__":
    unittest.main()
