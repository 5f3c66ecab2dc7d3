"""Training throughput of our pipeline against a bare loop and against the ceiling, side by side in one run.

    python bench.py                                      # every model, 3 s a row, the device's default settings
    python bench.py --models ResNet-32 --setting 128 --setting 512,amp,cl --compile reduce-overhead --seconds 60

ours     DeviceBatches (uint8 images on the device; the kit's crop, flip and normalisation batched there) feeding
         training.train with training.sgd (fused SGD), as main.py trains.
bare     already-normalised float images on the device, sliced in a shuffled order, no augmentation, and
         torch.optim.SGD with its defaults: a plain loop.
ceiling  our training step on the same batch of random images, already on the device, every step: no data
         pipeline at all, so ours / ceiling is what feeding the data costs.

All three train the same model with the same hyper-parameters, batch size, precision and memory layout (a setting is
BATCH with optional `amp`: bf16 autocast and `cl`: channels-last), on random images as many as CIFAR-10's
training set (so the data occupies as much memory, and meets the caches, as in a real run). They alternate in
short rounds, taking turns at going first, each loop going on through its epochs where it stopped. Rates are
medians of rounds; the ratios are medians of each cycle's own ratio, steadier on a machine whose speed drifts.
The process keeps the memory it frees (see keep_freed_memory) so that no loop pays page faults for another's.
Goals: ours >= 0.95 of bare on the CPU, ours >= 0.90 of the ceiling on a GPU. Default settings: 128 on the CPU;
128 and 512,amp,cl on CUDA.
"""
import argparse
import ctypes
import itertools
import statistics
import sys
import time

import cli

if __name__ == "__main__":
    cli.before_loading("bench.py")  # before torch: Ctrl-C quiet while it loads, a missing package one line

import numpy as np
import torch
import torch.nn.functional as F

from config import COMPILE_MODES
from data import DeviceBatches
from data.augment import normalise
from device import choose_device, compiled, memory_format, synchronise
from models import MODEL_BUILDERS
from training import autocast, sgd, train

DEFAULT_MODELS = ("TwoLayerNet", "VanillaCNN", "MyModel", "ResNet-32")
LOOPS = ("ours", "bare", "ceiling")
ROUND_SECONDS = 0.15
CIFAR10_TRAINING_IMAGES = 50_000  # the store sizes, and so the cache behaviour, of a real run
MAX_IMAGES = 1_000_000  # 3 GB of images: more is no benchmark of CIFAR-10 training
MAX_BATCH = 50_000  # CIFAR-10's training set in one step


class RandomImages:
    """A stand-in for a CIFAR Dataset: random uint8 images and labels (throughput does not depend on content)."""

    def __init__(self, count, seed=0):
        generator = np.random.default_rng(seed)
        self.data = generator.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        self.targets = generator.integers(0, 10, count).tolist()


def keep_freed_memory():
    """Have glibc keep freed memory for reuse instead of handing it back to the system, to be faulted in again
    page by page on the next allocation: each step frees and reallocates megabytes, and how many page faults
    that costs swings with the interleaved loops' sizes, the largest source of scatter between runs (REPORT.md).
    Other C libraries are left as they are."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)  # never give the top of the heap back
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # blocks under 32 MB (glibc's largest setting) come from the heap


def parse_setting(text):
    """'512,amp,cl' -> dict(batch_size=512, amp=True, channels_last=True)."""
    batch, *flags = text.split(",")
    if not batch.isdigit() or not 1 <= int(batch) <= MAX_BATCH or set(flags) - {"amp", "cl"}:
        raise argparse.ArgumentTypeError(f"setting {text!r}: expected BATCH[,amp][,cl] with BATCH from 1 to "
                                         f"{MAX_BATCH}, e.g. 512,amp,cl")
    return dict(batch_size=int(batch), amp="amp" in flags, channels_last="cl" in flags)


def describe(setting):
    precision = "bf16" if setting["amp"] else "fp32"
    return f"{setting['batch_size']} {precision}{' cl' if setting['channels_last'] else ''}"


def new_model(model_name, device, setting, compile_mode):
    torch.manual_seed(0)
    model = MODEL_BUILDERS[model_name]().to(device, memory_format=memory_format(setting["channels_last"]))
    return compiled(model, compile_mode)


def step(model, optimizer, images, labels, amp):
    with autocast(images.device, amp):
        loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class Stream:
    """Endless epochs of `batches`, `steps` batches at a time: each iteration is one round of training."""

    def __init__(self, batches):
        self.batches, self.steps = batches, 1
        self.stream = itertools.chain.from_iterable(itertools.repeat(batches))

    def __iter__(self):
        return itertools.islice(self.stream, self.steps)

    def __len__(self):
        return self.steps


def make_loops(model_name, device, setting, image_count, compile_mode, same_optimizer=False):
    """The three loops, each a function of the number of steps it trains, and the model all three train."""
    batch_size, amp, layout = setting["batch_size"], setting["amp"], memory_format(setting["channels_last"])
    dataset = RandomImages(image_count)
    ours_stream = Stream(DeviceBatches(dataset, batch_size, device, train=True, memory_format=layout,
                                       generator=torch.Generator(device=device).manual_seed(0)))
    images = normalise(torch.from_numpy(dataset.data).permute(0, 3, 1, 2).to(device), layout)
    labels = torch.as_tensor(dataset.targets, device=device)
    fixed_images, fixed_labels = images[:batch_size].clone(memory_format=layout), labels[:batch_size].clone()
    # One model for all three: separate copies sit at different addresses, which alone can make one loop a few
    # percent slower than another on a CPU. Ours and the ceiling take main.py's optimiser, the bare loop
    # torch.optim.SGD as it comes (or main.py's with `same_optimizer`); each keeps its own momentum.
    model = new_model(model_name, device, setting, compile_mode)
    our_optimizer, plain_optimizer = (make(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
                                      for make in (sgd, sgd if same_optimizer else torch.optim.SGD))

    def bare_batches():
        while True:
            order = torch.randperm(len(labels), device=device)
            for start in range(0, len(labels) - batch_size + 1, batch_size):
                index = order[start:start + batch_size]
                yield images.index_select(0, index), labels.index_select(0, index)
    bare_stream = bare_batches()

    def ours(steps):
        ours_stream.steps = steps
        train(model, ours_stream, torch.nn.CrossEntropyLoss(), our_optimizer, amp=amp)  # ends by reading its totals

    def bare(steps):
        model.train()
        for batch_images, batch_labels in itertools.islice(bare_stream, steps):
            step(model, plain_optimizer, batch_images, batch_labels, amp)

    def ceiling(steps):
        model.train()
        for _ in range(steps):
            step(model, our_optimizer, fixed_images, fixed_labels, amp)
    return {"ours": ours, "bare": bare, "ceiling": ceiling}, model


def images_per_second(loop, steps, batch_size, device):
    synchronise(device)
    started = time.perf_counter()
    loop(steps)
    synchronise(device)
    return steps * batch_size / (time.perf_counter() - started)


def measure(model_name, device, setting, seconds, compile_mode, image_count=CIFAR10_TRAINING_IMAGES,
            same_optimizer=False):
    """Images/s of each loop (medians) and ours / bare, ours / ceiling (medians of each cycle's ratio) over
    alternating rounds lasting about `seconds` in all; returns (rates, ratios, cycles, steps per round)."""
    batch_size = setting["batch_size"]
    whole_batches = max(1, image_count // batch_size) * batch_size  # every step of every loop a full batch
    loops, _ = make_loops(model_name, device, setting, whole_batches, compile_mode, same_optimizer)
    for loop in loops.values():
        loop(2)  # warm-up: allocator, cuDNN autotuning, compilation, CUDA graphs, first-call overheads
    step_seconds = batch_size / images_per_second(loops["ceiling"], 2, batch_size, device)
    # Rounds of about 0.15 s: long enough to time, short enough for the machine's speed to hold within a cycle.
    steps = int(min(100, max(2, ROUND_SECONDS / step_seconds)))
    rates = {loop: [] for loop in LOOPS}
    started = time.perf_counter()
    while len(rates["ours"]) < 5 or time.perf_counter() - started < seconds:
        first = len(rates["ours"]) % len(LOOPS)  # each loop takes every place in the order in turn
        for loop in LOOPS[first:] + LOOPS[:first]:
            rates[loop].append(images_per_second(loops[loop], steps, batch_size, device))
    # The machine's speed drifts between cycles far more than within one, so each cycle's own ratio is a
    # steadier measure than a ratio of medians.
    ratios = {other: statistics.median(mine / theirs for mine, theirs in zip(rates["ours"], rates[other]))
              for other in ("bare", "ceiling")}
    return {loop: statistics.median(values) for loop, values in rates.items()}, ratios, len(rates["ours"]), steps


def argument_parser():
    parser = cli.CommandLineParser(prog="bench.py", description=(__doc__ or "").partition("\n\n")[0],
                                   formatter_class=cli.HelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=tuple(MODEL_BUILDERS),
                        metavar="MODEL", help=f"models to time, of {', '.join(MODEL_BUILDERS)} "
                                              f"(default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--setting", action="append", type=parse_setting, metavar="BATCH[,amp][,cl]",
                        help="batch size, bf16 autocast, channels-last (repeatable; default: 128 on the CPU, 128 "
                             "and 512,amp,cl on CUDA)")
    parser.add_argument("--compile", choices=COMPILE_MODES, default="none", help="torch.compile every model")
    parser.add_argument("--seconds", type=cli.number_at_least(0, float, above=True, at_most=3600), default=3.0,
                        help="time per model and setting, warm-up aside (a quick look; REPORT.md's ratios come "
                             "from --seconds 60, steadier)")
    parser.add_argument("--images", type=cli.number_at_least(1, at_most=MAX_IMAGES), default=CIFAR10_TRAINING_IMAGES,
                        help="size of the random dataset")
    parser.add_argument("--same-optimizer", action="store_true",
                        help="the bare loop also uses main.py's fused SGD: ours / bare is then the data pipeline alone")
    return parser


def table_header(device, args):
    """What was timed and how, then the column names."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    return (f"device {device} ({name}), torch {torch.__version__}, compile {args.compile}, about {args.seconds:g} s "
            f"per row; images/s, medians of alternating rounds; {args.images} images; bare loop with "
            f"{'fused SGD' if args.same_optimizer else 'torch.optim.SGD defaults'}\n"
            f"{'model':<12} {'setting':<13} {'ours':>8} {'bare':>8} {'ceiling':>8} {'ours/bare':>9} "
            f"{'ours/ceil':>9} {'rounds':>6} {'steps':>5}")


def main():
    parser = argument_parser()
    args = parser.parse_args()
    keep_freed_memory()
    try:
        device = choose_device(args.device)
    except ValueError as error:
        parser.exit(2, f"bench.py: error: {error}\n")
    too_big = [describe(setting) for setting in args.setting or () if setting["batch_size"] > args.images]
    if too_big:
        parser.error(f"batch {too_big[0]} is larger than the {args.images} images of --images")
    settings = args.setting or ([parse_setting("128"), parse_setting("512,amp,cl")] if device.type == "cuda"
                                else [parse_setting("128")])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(table_header(device, args))
    for model_name in args.models:
        for setting in settings:
            try:
                rate, ratio, rounds, steps = measure(model_name, device, setting, args.seconds, args.compile,
                                                     args.images, args.same_optimizer)
            except (MemoryError, torch.OutOfMemoryError, RuntimeError) as error:
                if not isinstance(error, MemoryError) and "memory" not in str(error):
                    raise
                parser.exit(2, f"bench.py: error: out of memory for {model_name} at {describe(setting)} with "
                               f"{args.images} images; lower --images or the batch size\n")
            print(f"{model_name:<12} {describe(setting):<13} {rate['ours']:8.0f} {rate['bare']:8.0f} "
                  f"{rate['ceiling']:8.0f} {ratio['bare']:9.3f} {ratio['ceiling']:9.3f} {rounds:6d} {steps:5d}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(cli.quiet_when_the_pipe_closes(main))
