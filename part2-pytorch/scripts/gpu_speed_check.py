"""One GPU job for the fast training path, in the order of what matters most, each result in OUT at once:

  tests     the tests that need CUDA or touch the GPU paths (tests.test_speed_paths and the training/model tests)
  bench     bench.py --device cuda, ResNet-32 at batch 128 fp32 and 512 bf16 channels-last, without and with CUDA
            graphs (--compile reduce-overhead), back to back: ours / ceiling is the goal (0.90 or more)
  record    scripts/mymodel_record.py: MyModel's GPU recipe over 5 seeds a run length, timed as the speed records
            are, model by model (--record: MyModel-GPU at 16, 20 and 24 epochs, then MyModel-GPU-wide at 12 and
            16), each into OUT/record_MODEL/ (needs the real CIFAR-10 batches in --data-dir)
  torchrun  torchrun --nproc_per_node=1 (NCCL) against one plain process on a small synthetic CIFAR folder: the
            same files, the same final accuracy
  suite     the whole part-2 suite, if time is left

    python scripts/gpu_speed_check.py OUT [--steps STEP ...] [--seconds 540] [--bench-seconds 20] [--device cuda]

from part2-pytorch/. It stops starting steps when less than a step's share of --seconds is left, and ends with
a short table (OUT/table.md). scripts/gpu_job.sh runs it in the three device calls that carry the CIFAR-10
batches (over the upload limit in one). Rehearse on a CPU:
    python scripts/gpu_speed_check.py /tmp/out --device cpu --bench-seconds 2 --seconds 400 --record MyModel-GPU:2,1 \\
        --data-dir SYNTHETIC   (a folder of small batch files: tests.helpers.write_cifar_folder)
"""
import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time

PART2 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PART2)

import cli  # noqa: E402
import files  # noqa: E402

GPU_TESTS = ["tests.test_speed_paths", "tests.test_training", "tests.test_models", "tests.test_augmentation"]
TORCHRUN_CONFIG = """
Train: {batch_size: 64, learning_rate: 0.05, reg: 0.0005, epochs: 2, steps: [6, 8], warmup: 0, momentum: 0.9}
network: {model: TwoLayerNet}
data: {imbalance: regular, save_best: false, data_dir: cifar-10-batches-py}
loss: {loss_type: CE}
"""


def run(command, log_path, seconds, cwd=PART2):
    """Run command with its output to log_path; (exit status or 'timeout', wall seconds)."""
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        try:
            status = subprocess.run(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, timeout=seconds).returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
    return status, time.perf_counter() - start


def log_lines(path):
    """A log's lines, whatever encoding the child wrote it in (undecodable bytes become U+FFFD)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def last_line(path, containing=""):
    lines = [line.rstrip() for line in log_lines(path) if containing in line and line.strip()]
    return lines[-1] if lines else "(no output)"


def torchrun_check(out, device, seconds):
    """The same short TwoLayerNet run under torchrun (one process) and as a plain process; the rows to compare."""
    from tests.helpers import write_cifar_folder
    folder = tempfile.mkdtemp(prefix="torchrun-check-")
    write_cifar_folder(folder, train_per_class=200, test_per_class=50)
    config = os.path.join(folder, "check.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(TORCHRUN_CONFIG)
    main = os.path.join(PART2, "main.py")
    common = ["--config", config, "--device", device, "--seed", "0"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--standalone", main]
    results = {}
    for name, command in (("plain", [sys.executable, main]), ("torchrun", torchrun)):
        status, wall = run(command + common + ["--name", name], os.path.join(out, f"torchrun_{name}.log"),
                           seconds / 2, cwd=folder)
        run_folder = os.path.join(folder, "runs", name)
        files = sorted(os.listdir(run_folder)) if os.path.isdir(run_folder) else []
        metrics = os.path.join(run_folder, "metrics.csv")
        final = "(no metrics.csv)"
        if os.path.exists(metrics):
            with open(metrics, newline="", encoding="utf-8") as f:
                row = list(csv.DictReader(f))[-1]
            final = " ".join(f"{key} {value}" for key, value in row.items()
                             if key in ("epoch", "train_loss", "test_acc"))
        results[name] = (status, wall, files, final)
    return results


def tests_step(args, note, left):
    log = os.path.join(args.out, "gpu_tests.log")
    status, wall = run([sys.executable, "-m", "unittest", "-v", *GPU_TESTS], log, min(240, left()))
    note("GPU-path tests", status, wall, last_line(log, "Ran ") + "; " + last_line(log))


def bench_step(args, note, left):
    bench = [sys.executable, "bench.py", "--device", args.device, "--models", "ResNet-32", "--setting", "128",
             "--setting", "512,amp,cl", "--seconds", str(args.bench_seconds)]
    for mode in ("none", "reduce-overhead"):
        if left() < 8 * args.bench_seconds:
            note(f"bench, compile {mode}", "skipped", 0, "no time left")
            continue
        log = os.path.join(args.out, f"bench_{mode}.log")
        status, wall = run(bench + ["--compile", mode], log, left())
        rows = [line for line in log_lines(log) if line.startswith("ResNet-32")]
        note(f"bench, compile {mode}", status, wall, "; ".join(" ".join(row.split()) for row in rows) or last_line(log))


def record_step(args, note, left):
    if not os.path.exists(os.path.join(PART2, args.data_dir, "data_batch_5")):
        return note("MyModel record", "skipped", 0, f"no CIFAR-10 batches in {args.data_dir}")
    for model, epochs in args.record:  # the first model may use the whole budget; the next gets what is left
        step = f"record {model}"
        if left() < 120:
            note(step, "skipped", 0, "no time left")
            continue
        budget = left() - (90 if "torchrun" in args.steps else 10)  # leaves torchrun its turn
        out = os.path.join(args.out, f"record_{model}")
        log = os.path.join(args.out, f"record_{model}.log")
        record = [sys.executable, os.path.join("scripts", "mymodel_record.py"), "--device", args.device, "--out",
                  out, "--seconds", str(budget), "--seeds", str(args.record_seeds), "--epochs", *map(str, epochs),
                  "--set", f"model={model}", "--set", f"data_dir={args.data_dir}"]
        if args.device == "cpu":  # a rehearsal: the compiler and CUDA graphs are the GPU's
            record += ["--set", "compile=none"]
        status, wall = run(record, log, budget + 60)
        lines = log_lines(log)
        cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("| ")]
        runs = [f"{c[0]} epochs x {c[1]}: accuracy {c[2]}, {c[3]} s ({c[4]})" for c in cells if c[0].isdigit()]
        warmup = next((line.split(": ", 1)[-1] for line in lines if "warm-up" in line), "")
        note(step, status, wall, "; ".join([warmup, *runs]) if runs else last_line(log))


def record_argument(text):
    """'MODEL:E,E,...' -> (MODEL, [E, ...]): a model of MODEL_BUILDERS and its run lengths."""
    from models import MODEL_BUILDERS
    model, _, lengths = text.partition(":")
    epochs = [cli.number_at_least(1)(length) for length in lengths.split(",")] if lengths else []
    if model not in MODEL_BUILDERS or not epochs:
        raise argparse.ArgumentTypeError(f"{text!r} is not MODEL:EPOCHS[,EPOCHS...] with a model of "
                                         f"{', '.join(MODEL_BUILDERS)}, e.g. MyModel-GPU:16,12")
    return model, epochs


def torchrun_step(args, note, left):
    if left() < 60:
        return note("torchrun vs plain", "skipped", 0, "no time left")
    start = time.perf_counter()
    results = torchrun_check(args.out, args.device, min(240, left()))
    same = results["plain"][2] == results["torchrun"][2] and results["plain"][3] == results["torchrun"][3]
    detail = "; ".join(f"{name}: exit {status}, {wall:.0f} s, last row {final}"
                       for name, (status, wall, _, final) in results.items())
    note("torchrun vs plain", "same" if same else "DIFFER", time.perf_counter() - start, detail)


def suite_step(args, note, left):
    if left() < 120:
        return note("whole part-2 suite", "skipped", 0, "no time left")
    log = os.path.join(args.out, "unittest_all.log")
    status, wall = run([sys.executable, "-m", "unittest"], log, left() - 10)
    note("whole part-2 suite", status, wall, last_line(log, "Ran ") + "; " + last_line(log))


STEPS = {"tests": tests_step, "bench": bench_step, "record": record_step, "torchrun": torchrun_step,
         "suite": suite_step}


def main():
    parser = cli.CommandLineParser(prog="gpu_speed_check.py", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=cli.path_argument("the folder for the logs and the table"),
                        help="folder for the logs and the table")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS),
                        help="the steps to run (always in the order above; default: all)")
    parser.add_argument("--seconds", type=cli.number_at_least(0, float, above=True, at_most=86400), default=540,
                        help="the whole job's budget")
    parser.add_argument("--bench-seconds", type=cli.number_at_least(0, float, above=True, at_most=3600), default=20,
                        help="bench.py's time per setting")
    parser.add_argument("--record", type=record_argument, nargs="+", metavar="MODEL:EPOCHS[,EPOCHS...]",
                        default=[("MyModel-GPU", [16, 20, 24]), ("MyModel-GPU-wide", [12, 16])],
                        help="the record step's models and run lengths, in this order "
                             "(default: MyModel-GPU:16,20,24 MyModel-GPU-wide:12,16)")
    parser.add_argument("--record-seeds", type=cli.number_at_least(1), default=5,
                        help="seeds per run length (default: 5)")
    parser.add_argument("--data-dir", default="data/cifar-10-batches-py", help="the real CIFAR-10 batches")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a rehearsal")
    args = parser.parse_args()
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:  # a file of that name, a read-only disk
        parser.exit(2, cli.error_line("gpu_speed_check.py", files.os_error_line(error)) + "\n")
    deadline = time.perf_counter() + args.seconds
    table = []

    def note(step, status, wall, detail):
        table.append(f"| {step} | {status} | {wall:.0f} s | {detail} |")
        text = "| step | status | wall | result |\n|---|---|---|---|\n" + "\n".join(table) + "\n"
        files.write_atomically(os.path.join(args.out, "table.md"), lambda f: f.write(text), "w")  # after each step
        print(table[-1], flush=True)

    import torch
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    note("machine", "-", 0, f"python {platform.python_version()}, torch {torch.__version__}, {gpu}")
    for name, step in STEPS.items():
        if name in args.steps:
            step(args, note, lambda: deadline - time.perf_counter())


if __name__ == "__main__":
    main()
