import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from tests.synthetic_cifar import write_synthetic_cifar

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in a fresh interpreter whose os module lacks what macOS and Windows lack (the sched_* calls), and
# os.process_cpu_count too, so that the last fallback (os.cpu_count) is the one exercised.
WITHOUT_LINUX_CALLS = textwrap.dedent("""
    import os, sys
    for name in ("sched_getaffinity", "sched_setaffinity", "process_cpu_count"):
        if hasattr(os, name):
            delattr(os, name)
    sys.path.insert(0, sys.argv.pop(1))
    import numpy as np
    from modules import ConvNet
    from modules._parallel import set_thread_count, thread_count
    assert thread_count() >= 1
    set_thread_count(2)  # the pooling below is large enough to be split over the thread pool
    model = ConvNet([dict(type="Conv2D", in_channels=3, out_channels=8, kernel_size=3, stride=1, padding=1),
                     dict(type="ReLU"), dict(type="MaxPooling", kernel_size=2, stride=2),
                     dict(type="Linear", in_dim=8 * 32 * 32, out_dim=10)], dict(type="SoftmaxCrossEntropy"))
    x, y = np.random.default_rng(0).standard_normal((16, 3, 64, 64)), np.arange(16) % 10
    probs, loss = model.forward(x, y)
    model.backward()
    assert np.isfinite(loss) and all(np.isfinite(m.dx).all() for m in model.modules)
    import train  # train.py's code path, on the synthetic data in the working directory
    sys.exit(train.main([]))
""")


class TestWithoutLinuxOnlyCalls(unittest.TestCase):
    def test_layers_and_train_py_run(self):
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # let the core count decide
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            result = subprocess.run([sys.executable, "-c", WITHOUT_LINUX_CALLS, PART1], cwd=tmp, env=env,
                                    capture_output=True, text=True, timeout=300)
            self.assertTrue(os.path.isfile(os.path.join(tmp, "train.png")))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sum(line.startswith("epoch") for line in result.stdout.splitlines()), 11)



class PathsWithSpaces(unittest.TestCase):
    @unittest.skipUnless(shutil.which("make") and os.name == "posix", "make and a POSIX venv (.venv/bin) needed")
    def test_make_runs_the_venvs_python_from_a_folder_whose_path_has_a_space(self):
        repository = os.path.dirname(PART1)
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "My Projects", "cifar kit")  # as a macOS or Windows user names folders
            os.makedirs(os.path.join(root, ".venv"))
            for name in ("Makefile", "requirements.txt"):
                shutil.copy(os.path.join(repository, name), root)
            open(os.path.join(root, ".venv", ".installed"), "w").close()
            os.utime(os.path.join(root, "requirements.txt"), (0, 0))  # the venv is set up: make installs nothing
            environment = {k: v for k, v in os.environ.items() if k not in ("CIFAR10_ARCHIVE", "MAKEFLAGS")}
            result = subprocess.run(["make", "-n", "demo", "test"], cwd=root, capture_output=True, text=True,
                                    env=environment, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        commands = [shlex.split(line) for line in result.stdout.splitlines() if "/.venv/bin/python" in line]
        self.assertEqual(len(commands), 5, result.stdout)  # train.py, main.py and the three suites
        for words in commands:  # the whole path is one word of each command
            self.assertIn(os.path.join(root, ".venv", "bin", "python"), words)


if __name__ == "__main__":
    unittest.main()
