"""Every part-1 script answers --help without running (nothing trained, timed, fetched or written), and bench.py
refuses bad counts in one line; the .sh wrappers find a Python that runs."""
import contextlib
import inspect
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch

import bench
from modules._parallel import set_thread_count, thread_count
from tests.script_checks import python_handles_ctrl_c
from train import quiet_when_the_pipe_closes, stop_on_sigterm

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class HelpOnly(unittest.TestCase):
    def test_every_script_answers_help_and_runs_nothing(self):
        def snapshot():
            return {os.path.join(folder, name): os.stat(os.path.join(folder, name)).st_mtime_ns
                    for folder, _, names in os.walk(PART1) for name in names if "__pycache__" not in folder}
        before = snapshot()
        environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for script in ("train.py", "bench.py", "data/fetch_cifar10.py", "collect_submission.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, os.path.join(PART1, script), "--help"], cwd=PART1,
                                        env=environment, capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)
        self.assertEqual(snapshot(), before)


# the path a child Python gives as sys.executable: started as ../.venv/bin/python, this one keeps the ".."
PYTHON = os.path.normpath(sys.executable)
FIX = ("use the kit's .venv Python (README, Quick start), or install them: pip install -r requirements.txt, from the "
       "kit's top folder")  # what a missing package's line says to do


def run_hiding(script, *arguments, hide=(), **environment):
    """`python script arguments` from part 1, the modules in `hide` not installed as far as it can tell
    (sys.modules[name] = None: importlib.util.find_spec says None, an import fails)."""
    launcher = (f"import runpy, sys; sys.path.insert(0, {PART1!r}); sys.modules.update(dict.fromkeys({list(hide)!r})); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.run([sys.executable, "-c", launcher, script, *arguments], cwd=PART1, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, **environment))


class LoadingLibraries(unittest.TestCase):
    def test_a_missing_package_is_one_line_naming_it_and_the_fix(self):
        for script, hidden, named in (("train.py", ["matplotlib"], "matplotlib"),
                                      ("bench.py", ["numpy", "torch"], "numpy, torch")):
            with self.subTest(script=script):
                result = run_hiding(script, "--help", hide=hidden)
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(result.stderr, f"{script}: error: {named} missing from {PYTHON}; {FIX}\n")

    def test_help_without_docstrings(self):  # python -OO strips them; --help still answers
        for script in ("train.py", "bench.py", "collect_submission.py", os.path.join("data", "fetch_cifar10.py")):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, "-OO", script, "--help"], cwd=PART1, capture_output=True,
                                        text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)

    def test_a_backend_matplotlib_cannot_load_does_not_stop_a_script(self):
        # a notebook's `!python train.py` inherits MPLBACKEND=module://matplotlib_inline...; the scripts draw to files
        for script in ("train.py", "bench.py"):
            with self.subTest(script=script):
                result = run_hiding(script, "--help", MPLBACKEND="module://matplotlib_inline.backend_inline")
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith(f"usage: {script}"), result.stdout)


class ClosedPipe(unittest.TestCase):
    def test_bench_with_its_reader_gone_ends_quietly(self):
        process = subprocess.Popen([sys.executable, os.path.join(PART1, "bench.py"), "--repeats", "1"], cwd=PART1,
                                   env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        process.stdout.close()  # as `| head -0` does: the first line meets a closed pipe
        err = process.stderr.read()
        process.stderr.close()
        self.assertEqual((process.wait(timeout=300), err), (1, ""))


class BadCounts(unittest.TestCase):
    def test_bench_refuses_a_bad_count_in_one_line_before_timing_anything(self):
        for flag, text in (("--repeats", "0"), ("--threads", "-1"), ("--repeats", "x")):
            with self.subTest(flag=flag, text=text):
                result = subprocess.run([sys.executable, os.path.join(PART1, "bench.py"), flag, text], cwd=PART1,
                                        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), capture_output=True,
                                        text=True, timeout=120)
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(result.stderr, f"bench.py: error: argument {flag}: {text!r} is not an integer "
                                                f"at least 1\n")
        most = 4 * (os.cpu_count() or 1)
        for text in (str(most + 1), "9" * 30):  # a count PyTorch would crash on, or overflow with
            with self.subTest(threads=text):
                result = subprocess.run([sys.executable, os.path.join(PART1, "bench.py"), "--threads", text],
                                        cwd=PART1, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(result.stderr, f"bench.py: error: argument --threads: {text!r} is more threads than "
                                                f"this machine can use; give at most {most} (4 per core)\n")


class BenchParts(unittest.TestCase):
    def test_the_ratio_is_the_median_of_the_per_turn_ratios(self):
        # turns of (ours, theirs) seconds (1, 1), (2, 1), (10, 20): ratios 1, 2, 0.5; the medians' ratio is 2
        ends = iter(np.cumsum([0, 1, 0, 1, 0, 2, 0, 1, 0, 10, 0, 20]))
        with mock.patch.object(bench.time, "sleep"), mock.patch.object(bench, "deciding", return_value=False), \
                mock.patch.object(bench.time, "perf_counter", lambda: next(ends)):
            self.assertEqual(bench.paired_times(lambda: None, lambda: None, 3), (2, 1, 1))

    def test_threads_sets_our_thread_count(self):
        self.addCleanup(set_thread_count, thread_count())
        self.addCleanup(torch.set_num_threads, torch.get_num_threads())
        set_thread_count(3)
        pair = (lambda: None, lambda: None)
        with mock.patch.object(bench, "paired_times", return_value=(1.0, 1.0, 1.0)), \
                mock.patch.object(bench, "conv_pair", return_value=pair), \
                mock.patch.object(bench, "pool_pair", return_value=pair), \
                mock.patch.object(bench, "train_py_seconds", return_value=1.0), \
                mock.patch.object(bench, "winners", return_value={}), \
                mock.patch.object(sys, "argv", ["bench.py", "--threads", "1", "--repeats", "1"]), \
                contextlib.redirect_stdout(io.StringIO()):
            bench.main()
        self.assertEqual(thread_count(), 1)

    def test_the_pairs_compute_the_same_gradients(self):
        # what is timed against PyTorch must be the same layer: strides other than the kernel, padding
        rng = np.random.default_rng(0)
        for ours, theirs in (bench.pool_pair(2, 3, 9, 8, 3, 2, rng), bench.conv_pair(2, 3, 7, 6, 4, 3, 2, 1, rng)):
            ours()
            theirs()
            mine, torchs = inspect.getclosurevars(ours).nonlocals, inspect.getclosurevars(theirs).nonlocals
            layer = mine.get("pool") or mine["conv"]
            with self.subTest(layer=type(layer).__name__):
                np.testing.assert_allclose(layer.dx, torchs["xt"].grad.numpy(), rtol=1e-10, atol=1e-12)
                self.assertEqual("wt" in torchs, layer is mine.get("conv"))  # the conv pair's weights are compared
                if "wt" in torchs:
                    np.testing.assert_allclose(layer.dw, torchs["wt"].grad.numpy(), rtol=1e-10, atol=1e-12)
                    np.testing.assert_allclose(layer.db, torchs["bt"].grad.numpy(), rtol=1e-10, atol=1e-12)


WRAPPERS = ("collect_submission.sh", "data/get_data.sh")


@unittest.skipUnless(os.name == "posix" and all(map(shutil.which, ("sh", "dirname", "basename"))),
                     "the .sh wrappers, run by a POSIX sh")
class ShellWrappers(unittest.TestCase):
    """The .sh wrappers run the first of python3 and python that runs: on Windows python3 may be the Store's
    placeholder, which is on PATH but only says how to install Python."""
    PLACEHOLDER = "#!/bin/sh\necho 'Python was not found; run without arguments to install it' >&2\nexit 49\n"

    def wrappers_with(self, pythons):
        """(status, stdout, stderr) of each wrapper's --help, on a PATH of dirname, basename and `pythons`."""
        results = {}
        with tempfile.TemporaryDirectory() as tools:
            for tool in ("dirname", "basename"):
                os.symlink(shutil.which(tool), os.path.join(tools, tool))
            for name, text in pythons.items():
                with open(os.path.join(tools, name), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(tools, name), 0o755)
            for wrapper in WRAPPERS:
                result = subprocess.run([shutil.which("sh"), os.path.join(PART1, wrapper), "--help"],
                                        env=dict(PATH=tools, PYTHONDONTWRITEBYTECODE="1"), capture_output=True,
                                        text=True, timeout=120)
                results[wrapper] = result.returncode, result.stdout, result.stderr
        return results

    def test_python_serves_where_python3_is_a_placeholder(self):
        python = f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n"
        for wrapper, (status, out, err) in self.wrappers_with(dict(python3=self.PLACEHOLDER, python=python)).items():
            with self.subTest(wrapper=wrapper):
                self.assertEqual((status, err), (0, ""))
                self.assertTrue(out.startswith("usage: "), out)

    def test_no_python_that_runs_is_one_line_and_status_2(self):
        for pythons in ({}, dict(python3=self.PLACEHOLDER)):
            for wrapper, (status, out, err) in self.wrappers_with(pythons).items():
                with self.subTest(wrapper=wrapper, pythons=sorted(pythons)):
                    self.assertEqual((status, out), (2, ""))
                    self.assertEqual(len(err.splitlines()), 1, err)
                    self.assertIn("neither python3 nor python here runs as Python 3.8 or newer", err)

    def test_a_python_older_than_3_8_is_passed_over(self):
        # as an old system's python (Python 2) or python3 (3.6: zipfile lacks strict_timestamps) answers
        old = (f"#!/bin/sh\nexec '{sys.executable}' -c \"import sys; sys.version_info = (3, 7, 17); "
               "exec(sys.argv[1])\" \"$2\"\n")
        python = f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n"
        for pythons, expected in ((dict(python3=old, python=python), 0), (dict(python3=old, python=old), 2)):
            for wrapper, (status, out, err) in self.wrappers_with(pythons).items():
                with self.subTest(wrapper=wrapper, python=pythons["python"] is python):
                    self.assertEqual(status, expected, err)
                    self.assertTrue(out.startswith("usage: ") if expected == 0 else out == "", out)



class CtrlC(unittest.TestCase):
    @unittest.skipIf(sys.platform == "win32", "os.kill(pid, SIGINT) ends a Windows process outright")
    def test_ctrl_c_while_the_libraries_load_ends_the_script_without_a_traceback(self):
        python_handles_ctrl_c()
        pressing = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nraise SystemExit(7)\n"  # 7: outlived it
        with tempfile.TemporaryDirectory() as folder:
            for name in ("numpy", "torch", "matplotlib"):  # stand-ins that press Ctrl-C while they load
                os.makedirs(os.path.join(folder, name))
                with open(os.path.join(folder, name, "__init__.py"), "w") as f:
                    f.write(pressing)
            environment = dict(os.environ, PYTHONPATH=folder)
            for script in ("train.py", "bench.py"):
                with self.subTest(script=script):
                    result = subprocess.run([sys.executable, script], cwd=PART1, env=environment,
                                            capture_output=True, text=True, timeout=60)
                    self.assertEqual((result.returncode, result.stderr), (-signal.SIGINT, ""))
            result = subprocess.run([sys.executable, "train.py"], cwd=PART1, env=environment, capture_output=True,
                                    text=True, timeout=60,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            self.assertEqual((result.returncode, result.stderr), (7, ""))  # ignored Ctrl-C stays ignored

    def test_ctrl_c_that_a_script_leaves_alone_is_one_line_and_status_130(self):
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as the scripts leave it while the libraries load

        def main():
            self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # Python's again
            raise KeyboardInterrupt

        with mock.patch("sys.stderr", new_callable=io.StringIO) as err:
            self.assertEqual(quiet_when_the_pipe_closes(main), 130)
        self.assertEqual(err.getvalue(), "\ninterrupted\n")

    def test_sigterm_that_a_script_leaves_alone_is_one_line_and_status_143(self):
        def main():
            stop_on_sigterm(signal.SIGTERM, None)  # what `kill` does, with the handler train.py sets

        with mock.patch("sys.stderr", new_callable=io.StringIO) as err:
            self.assertEqual(quiet_when_the_pipe_closes(main), 128 + signal.SIGTERM)
        self.assertEqual(err.getvalue(), "\nstopped by SIGTERM\n")


if __name__ == "__main__":
    unittest.main()
