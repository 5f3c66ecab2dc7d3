"""Shared test fixtures: a tiny synthetic CIFAR-10 folder and running main.py in a scratch folder."""
import contextlib
import io
import os
import pickle
import signal
import subprocess
import sys
import tempfile

import numpy as np

PART2 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA = os.path.join(PART2, "data", "cifar-10-batches-py")


def python_handles_ctrl_c():
    """setUpModule of the Ctrl-C tests. A suite started in the background by a script (`make test &` without job
    control) inherits SIGINT ignored, as would every child it starts: these tests need Python's own handler, here
    and (reset on exec) in the children. Each module asks for it itself, whatever tests/__init__.py holds."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def alive(pid):
    """Whether process `pid` runs (Linux /proc): a zombie has ended, only its entry is left."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def class_images(labels, seed):
    """uint8 images (N, 3, 32, 32) whose colour encodes the label, plus noise: learnable in a few steps,
    and unchanged in meaning by crops and flips."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    colours = np.stack([labels * 25, 250 - labels * 25, (labels % 3) * 100], axis=1)  # (N, 3)
    noise = rng.integers(-20, 21, (len(labels), 3, 32, 32))
    return np.clip(colours[:, :, None, None] + 5 + noise, 0, 255).astype(np.uint8)


def _write_batch(path, images, labels):
    with open(path, "wb") as f:
        pickle.dump({b"data": images.reshape(len(images), -1), b"labels": [int(v) for v in labels]}, f, protocol=2)


def write_cifar_folder(root, train_per_class=30, test_per_class=10, seed=0):
    """Write root/cifar-10-batches-py like the real one (5 training batches, test_batch, batches.meta) with
    label-coded images in a shuffled class order; returns the folder and the training labels in file order."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    train_labels = rng.permutation(np.repeat(np.arange(10), train_per_class))
    train_images = class_images(train_labels, seed)
    for part, chunk in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        _write_batch(os.path.join(folder, f"data_batch_{part}"), train_images[chunk], train_labels[chunk])
    test_labels = rng.permutation(np.repeat(np.arange(10), test_per_class))
    _write_batch(os.path.join(folder, "test_batch"), class_images(test_labels, seed + 1), test_labels)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10}, f)
    return folder, train_labels, train_images


class ScratchRun:
    """main.main() run in-process inside a temporary folder holding a synthetic CIFAR folder and a config."""

    CONFIG = """
Train: {batch_size: 32, learning_rate: 0.1, reg: 0.0005, epochs: 2, steps: [6, 8], warmup: 0, momentum: 0.9}
network: {model: TwoLayerNet}
data: {imbalance: regular, save_best: true, data_dir: cifar-10-batches-py}
loss: {loss_type: CE}
"""

    def __init__(self, config_text=CONFIG):
        self._temporary = tempfile.TemporaryDirectory()
        self.folder = self._temporary.name
        write_cifar_folder(self.folder)
        self.config = os.path.join(self.folder, "tiny.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)

    def path(self, *parts):
        return os.path.join(self.folder, *parts)

    def main(self, *arguments):
        """(exit status, stdout, stderr) of main.main(['--config', tiny.yaml, *arguments]) run in the folder."""
        import main

        out, err = io.StringIO(), io.StringIO()
        here = os.getcwd()
        os.chdir(self.folder)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = main.main(["--config", self.config, "--device", "cpu", *arguments])
                except SystemExit as stop:  # argparse errors
                    status = stop.code
        finally:
            os.chdir(here)
        return status, out.getvalue(), err.getvalue()

    def close(self):
        self._temporary.cleanup()


def start_main(arguments, cwd=PART2, environment=()):
    """Start `python main.py *arguments` (one CPU thread: the tests run side by side) with these extra
    `environment` variables; returns the Popen."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", **dict(environment))
    return subprocess.Popen([sys.executable, os.path.join(PART2, "main.py"), *arguments], cwd=cwd,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# Runs the script sys.argv[1] with the rest as its arguments, on a stdout whose every write fails as on a full disk
# (`> log` there; /dev/full on Linux), whatever the system.
FULL_STDOUT = """
import errno, io, os, runpy, sys
class FullDisk(io.TextIOWrapper):
    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
sys.stdout = FullDisk(open(os.devnull, "wb"), encoding="utf-8")
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_on_a_full_disk(script, arguments, cwd=PART2):
    """Run the part-2 script with stdout on a full disk; returns the CompletedProcess (stderr as text)."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", FULL_STDOUT, os.path.join(PART2, script), *arguments], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=300)
