"""Time our numpy Conv2D and MaxPooling (forward + backward) against torch.nn.functional on the CPU.

Same float64 inputs, same thread count, one run. Ours and PyTorch's take turns (so a slow spell of the machine
hits both), and each ratio is the median of the per-turn ratios (ours / PyTorch, lower is better). Also prints
the CPU, the BLAS libraries, the choices modules/_autotune.py made, and the time of train.py's training loop
(data loading excluded).
    python bench.py [--repeats 20] [--threads N]
"""
import argparse
import importlib.util
import os
import platform
import signal
import subprocess
import sys
import time

if __name__ == "__main__":
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C while torch loads ends the process, not in a traceback
    # train.py's check, with torch: train.py is handed in alone, so the two cannot share a helper
    missing = [package for package in ("numpy", "torch", "matplotlib") if importlib.util.find_spec(package) is None]
    if missing:  # one line, not a traceback from the imports below
        print(f"bench.py: error: {', '.join(missing)} missing from {sys.executable}; use the kit's .venv "
              f"Python (README, Quick start), or install them: pip install -r requirements.txt, from the kit's top "
              f"folder", file=sys.stderr)
        sys.exit(2)
    os.environ["MPLBACKEND"] = "Agg"  # a notebook's inline backend, inherited by `!python bench.py`, stops the import

import numpy as np
import torch
import torch.nn.functional as F

from modules import Conv2D, MaxPooling
from modules._autotune import deciding, winners
from modules._parallel import set_thread_count
from train import model_and_optimizer, quiet_when_the_pipe_closes
from trainer import ClassifierTrainer

CONV_CASES = {  # name: (N, C, H, W, F, kernel, stride, padding)
    "train.py conv (50x3x32x32 -> 32, k5 p2)": (50, 3, 32, 32, 32, 5, 1, 2),
    "ResNet conv (64x16x32x32 -> 16, k3 p1)": (64, 16, 32, 32, 16, 3, 1, 1),
    "strided conv (64x16x32x32 -> 32, k3 s2 p1)": (64, 16, 32, 32, 32, 3, 2, 1),
}
POOL_CASES = {  # name: (N, C, H, W, kernel, stride)
    "train.py pool (50x32x32x32, 2/2)": (50, 32, 32, 32, 2, 2),
    "overlapping pool (64x16x32x32, 3/2)": (64, 16, 32, 32, 3, 2),
}


# Idle time before each timed call: BLAS and OpenMP worker threads spin for a while after their work (OpenBLAS
# for about 0.1 s), and spinning threads of the library timed just before would take cores from the one timed now.
SETTLE_SECONDS = 0.15


def cpu_model():
    """The processor's marketing name where the OS tells it, else whatever platform knows."""
    try:
        with open("/proc/cpuinfo") as f:  # Linux
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except OSError:
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def blas_libraries():
    """One line per BLAS in use: threadpoolctl's runtime view if it is installed, else what the builds declare."""
    try:
        from threadpoolctl import threadpool_info
        return [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}), {i['num_threads']} threads, "
                f"{os.path.basename(i['filepath'])}" for i in threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        pass
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    numpy_blas = blas.get("openblas configuration") or f"{blas['name']} {blas.get('version', '')}"
    torch_blas = next((line.strip(" -") for line in torch.__config__.show().splitlines()
                       if "Math Kernel Library" in line or "OpenBLAS" in line), "see torch.__config__.show()")
    return [f"NumPy: {numpy_blas}", f"PyTorch: {torch_blas}"]


def paired_times(ours, theirs, repeats):
    """Median seconds of each and the median of the per-turn ratios; the two take turns."""
    ours(), theirs()  # warm-up: first-touch allocations, thread pools
    while deciding():  # modules/_autotune.py times its candidates in use: here, as the timed turns run them
        time.sleep(SETTLE_SECONDS)
        ours()
    times = []
    for _ in range(repeats):
        pair = []
        for fn in (ours, theirs):
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            fn()
            pair.append(time.perf_counter() - start)
        times.append(pair)
    t_ours, t_theirs = np.array(times).T
    return np.median(t_ours), np.median(t_theirs), np.median(t_ours / t_theirs)


def conv_pair(n, c, h, w, f, k, s, p, rng):
    h_out, w_out = ((size + 2 * p - k) // s + 1 for size in (h, w))  # not conv.forward: it would start a tuning
    x, dout = rng.standard_normal((n, c, h, w)), rng.standard_normal((n, f, h_out, w_out))
    conv = Conv2D(c, f, k, s, p)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, conv.weight, conv.bias))
    dout_t = torch.tensor(dout)

    def ours():
        conv.forward(x)
        conv.backward(dout)

    def theirs():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, stride=s, padding=p).backward(dout_t)
    return ours, theirs


def pool_pair(n, c, h, w, k, s, rng):
    x = rng.standard_normal((n, c, h, w))
    pool = MaxPooling(k, s)
    dout = rng.standard_normal(pool.forward(x).shape)
    xt, dout_t = torch.tensor(x, requires_grad=True), torch.tensor(dout)

    def ours():
        pool.forward(x)
        pool.backward(dout)

    def theirs():
        xt.grad = None
        F.max_pool2d(xt, k, s).backward(dout_t)
    return ours, theirs


def train_py_seconds():
    """train.py's model, optimiser and trainer on 50 random images (the timing does not depend on the pixels)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3, 32, 32)) * 60, rng.integers(0, 10, 50)
    model, optimizer = model_and_optimizer()
    start = time.perf_counter()
    ClassifierTrainer().train(X, y, model, num_epochs=10, batch_size=10, optimizer=optimizer)
    return time.perf_counter() - start


class OneLineErrors(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def count(text):
    """An argparse type: an integer >= 1, or a one-line error naming the value."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer at least 1")
    return int(text)


def thread_count_argument(text):
    """--threads: a count up to 4 threads a core (PyTorch crashed on 100,000: more only time the scheduler)."""
    most = 4 * (os.cpu_count() or 1)
    if count(text) > most:
        raise argparse.ArgumentTypeError(f"{text!r} is more threads than this machine can use; give at most {most} "
                                         f"(4 per core)")
    return int(text)


def main():
    parser = OneLineErrors(prog="bench.py", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--repeats", type=count, default=20, help="timed turns of each; medians are printed")
    parser.add_argument("--threads", type=thread_count_argument, default=torch.get_num_threads(),
                        help="threads of PyTorch and of our Conv2D and max-pooling (modules/_parallel.py)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_thread_count(args.threads)
    rng = np.random.default_rng(0)
    openblas_env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    print(f"CPU: {cpu_model()} ({platform.system()}, {os.cpu_count()} logical cores)")
    for line in blas_libraries():
        print(f"BLAS: {line}")
    print(f"threads: PyTorch {args.threads}, our Conv2D and max-pooling {args.threads}, NumPy's BLAS "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'its default (all cores)')}; OPENBLAS_* environment: "
          f"{openblas_env or 'none set'}")
    print(f"float64, forward + backward, medians of {args.repeats} turns; PyTorch {torch.__version__}, "
          f"NumPy {np.__version__}")
    print(f"{'layer':46s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>7s}")
    pairs = [(name, conv_pair(*case, rng)) for name, case in CONV_CASES.items()]
    pairs += [(name, pool_pair(*case, rng)) for name, case in POOL_CASES.items()]
    for name, (ours, theirs) in pairs:
        t_ours, t_theirs, ratio = paired_times(ours, theirs, args.repeats)
        print(f"{name:46s} {t_ours * 1e3:9.2f} {t_theirs * 1e3:9.2f} {ratio:6.2f}x")
    for key, (chunk, threads, blas) in winners().items():
        print(f"autotune: {key.layer} input {key.x_shape} weight {key.weight_shape} stride {key.stride} padding "
              f"{key.padding}: {chunk} samples per chunk on {threads} thread(s), BLAS on {blas or 'its own'} thread(s)")
    print(f"train.py training loop (10 epochs, 50 images, data loading excluded): {train_py_seconds():.2f} s")


if __name__ == "__main__":
    sys.exit(quiet_when_the_pipe_closes(main))
