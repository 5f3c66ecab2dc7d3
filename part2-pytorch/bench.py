"""Training throughput of our pipeline against a bare loop and against the ceiling, side by side in one run.

    python bench.py [--models MyModel ResNet-32] [--setting 128] [--setting 512,amp,cl] [--compile reduce-overhead]

ours     DeviceBatches (uint8 images on the device; the kit's crop, flip and normalisation batched there) feeding
         training.train, as main.py trains.
bare     already-normalised float images on the device, sliced in a shuffled order, no augmentation: a plain loop.
ceiling  the same batch of random images, already on the device, every step: no data pipeline at all.

All three train the same model with the same optimiser, batch size, precision and memory layout (a setting is
BATCH with optional `amp`: bf16 autocast and `cl`: channels-last). They alternate in short rounds on random
images, taking turns at going first, so that each sees the same machine load, and each reports its median round
(at least 5 rounds). Goals: ours >= 0.95 of bare on the CPU, ours >= 0.90 of the ceiling on a GPU. Default
settings: 128 on the CPU; 128 and 512,amp,cl on CUDA.
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from config import COMPILE_MODES
from data import DeviceBatches
from data.augment import normalise
from device import choose_device
from models import MODEL_BUILDERS
from training import autocast, train

DEFAULT_MODELS = ("TwoLayerNet", "VanillaCNN", "MyModel", "ResNet-32")
LOOPS = ("ours", "bare", "ceiling")


class RandomImages:
    """A stand-in for a CIFAR Dataset: random uint8 images and labels (throughput does not depend on content)."""

    def __init__(self, count, seed=0):
        generator = np.random.default_rng(seed)
        self.data = generator.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        self.targets = generator.integers(0, 10, count).tolist()


def parse_setting(text):
    """'512,amp,cl' -> dict(batch_size=512, amp=True, channels_last=True)."""
    batch, *flags = text.split(",")
    if not batch.isdigit() or int(batch) < 1 or set(flags) - {"amp", "cl"}:
        raise argparse.ArgumentTypeError(f"setting {text!r}: expected BATCH[,amp][,cl], e.g. 512,amp,cl")
    return dict(batch_size=int(batch), amp="amp" in flags, channels_last="cl" in flags)


def describe(setting):
    precision = "bf16" if setting["amp"] else "fp32"
    return f"{setting['batch_size']} {precision}{' cl' if setting['channels_last'] else ''}"


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def layout(setting):
    return torch.channels_last if setting["channels_last"] else torch.contiguous_format


def new_training(model_name, device, setting, compile_mode):
    torch.manual_seed(0)
    model = MODEL_BUILDERS[model_name]().to(device, memory_format=layout(setting))
    optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
    if compile_mode != "none":
        model = torch.compile(model, mode=None if compile_mode == "default" else compile_mode)
    return model, optimizer


def step(model, optimizer, images, labels, amp):
    with autocast(images.device, amp):
        loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def make_rounds(model_name, device, setting, steps, compile_mode):
    """One round of each loop: `steps` training steps of the same model."""
    batch_size, amp, memory_format = setting["batch_size"], setting["amp"], layout(setting)
    dataset = RandomImages(batch_size * steps)
    batches = DeviceBatches(dataset, batch_size, device, train=True,
                            generator=torch.Generator(device=device).manual_seed(0), memory_format=memory_format)
    images = normalise(torch.from_numpy(dataset.data).permute(0, 3, 1, 2).to(device), memory_format)
    labels = batches.labels
    fixed_images, fixed_labels = images[:batch_size].clone(memory_format=memory_format), labels[:batch_size].clone()
    # One model and optimiser for all three: separate copies sit at different addresses, which alone can
    # make one loop a few percent slower than another on a CPU.
    model, optimizer = new_training(model_name, device, setting, compile_mode)

    def ours():
        train(model, batches, torch.nn.CrossEntropyLoss(), optimizer, amp=amp)  # ends by reading its totals

    def bare():
        model.train()
        order = torch.randperm(len(labels), device=device)
        for start in range(0, len(labels), batch_size):
            index = order[start:start + batch_size]
            step(model, optimizer, images.index_select(0, index), labels.index_select(0, index), amp)

    def ceiling():
        model.train()
        for _ in range(steps):
            step(model, optimizer, fixed_images, fixed_labels, amp)
    return {"ours": ours, "bare": bare, "ceiling": ceiling}


def images_per_second(run_round, count, device):
    synchronise(device)
    started = time.perf_counter()
    run_round()
    synchronise(device)
    return count / (time.perf_counter() - started)


def measure(model_name, device, setting, seconds, compile_mode):
    """Median images/s of each loop over alternating rounds lasting about `seconds` in all."""
    batch_size = setting["batch_size"]
    probe = make_rounds(model_name, device, setting, 2, compile_mode)
    for run_round in probe.values():
        run_round()  # warm-up: allocator, cuDNN autotuning, compilation, first-call overheads
    step_seconds = batch_size / images_per_second(probe["ceiling"], 2 * batch_size, device) * 2
    # Rounds of about a thirtieth of the budget: long enough to time, short enough to alternate often.
    steps = int(min(100, max(2, seconds / 30 / step_seconds)))
    rounds = make_rounds(model_name, device, setting, steps, compile_mode)
    for run_round in rounds.values():
        run_round()  # warm-up at the measured shapes (compilation, CUDA graphs)
    rates = {loop: [] for loop in LOOPS}
    started = time.perf_counter()
    while len(rates["ours"]) < 5 or time.perf_counter() - started < seconds:
        first = len(rates["ours"]) % len(LOOPS)  # each loop takes every place in the order in turn
        for loop in LOOPS[first:] + LOOPS[:first]:
            rates[loop].append(images_per_second(rounds[loop], batch_size * steps, device))
    return {loop: statistics.median(values) for loop, values in rates.items()}, len(rates["ours"]), steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=tuple(MODEL_BUILDERS))
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--setting", action="append", type=parse_setting, metavar="BATCH[,amp][,cl]",
                        help="batch size, bf16 autocast, channels-last (repeatable)")
    parser.add_argument("--compile", choices=COMPILE_MODES, default="none", help="torch.compile every model")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per model and setting, warm-up aside")
    args = parser.parse_args()
    try:
        device = choose_device(args.device)
    except ValueError as error:
        parser.exit(2, f"bench.py: error: {error}\n")
    settings = args.setting or ([parse_setting("128"), parse_setting("512,amp,cl")] if device.type == "cuda"
                                else [parse_setting("128")])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device {device} ({name}), torch {torch.__version__}, compile {args.compile}, about {args.seconds:g} s "
          f"per row; images/s, medians of alternating rounds")
    print(f"{'model':<12} {'setting':<13} {'ours':>8} {'bare':>8} {'ceiling':>8} {'ours/bare':>9} "
          f"{'ours/ceil':>9} {'rounds':>6} {'steps':>5}")
    for model_name in args.models:
        for setting in settings:
            rate, rounds, steps = measure(model_name, device, setting, args.seconds, args.compile)
            print(f"{model_name:<12} {describe(setting):<13} {rate['ours']:8.0f} {rate['bare']:8.0f} "
                  f"{rate['ceiling']:8.0f} {rate['ours'] / rate['bare']:9.3f} {rate['ours'] / rate['ceiling']:9.3f} "
                  f"{rounds:6d} {steps:5d}", flush=True)


if __name__ == "__main__":
    main()
