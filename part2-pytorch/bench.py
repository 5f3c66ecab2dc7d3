"""Training throughput of our pipeline against a bare PyTorch loop:  python bench.py [--seconds 3] [--device cuda]

Ours: DeviceBatches (uint8 images on the device, the kit's crop/flip/normalise done batched there) feeding
training.train. Bare: already-normalised float tensors on the device, sliced in a shuffled order, with the
same model, batch size, loss and optimiser, and no augmentation. The two alternate in short rounds on random
images so that both see the same machine load, and each reports its median round. The goal is ours >= 0.95
of bare.
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from data import DeviceBatches
from data.augment import normalise
from device import choose_device
from models import MODEL_BUILDERS
from training import train

DEFAULT_MODELS = ("TwoLayerNet", "VanillaCNN", "MyModel", "ResNet-32")


class RandomImages:
    """A stand-in for a CIFAR Dataset: random uint8 images and labels (throughput does not depend on content)."""

    def __init__(self, count, seed=0):
        generator = np.random.default_rng(seed)
        self.data = generator.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        self.targets = generator.integers(0, 10, count).tolist()


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def new_training(model_name, device):
    torch.manual_seed(0)
    model = MODEL_BUILDERS[model_name]().to(device)
    optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
    return model, optimizer


def ours_round(model, optimizer, batches):
    train(model, batches, torch.nn.CrossEntropyLoss(), optimizer)  # ends by reading the totals: waits for the device


def bare_round(model, optimizer, images, labels, batch_size):
    model.train()
    order = torch.randperm(len(labels), device=images.device)
    for start in range(0, len(labels), batch_size):
        index = order[start:start + batch_size]
        loss = F.cross_entropy(model(images.index_select(0, index)), labels.index_select(0, index))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronise(images.device)


def images_per_second(run_round, count, device):
    started = time.perf_counter()
    run_round()
    synchronise(device)
    return count / (time.perf_counter() - started)


def make_rounds(model_name, device, batch_size, steps):
    """One round of each loop: `steps` training steps over the same random images, each with its own model."""
    batches = DeviceBatches(RandomImages(batch_size * steps), batch_size, device, train=True,
                            generator=torch.Generator(device=device).manual_seed(0))
    images, labels = normalise(batches.images), batches.labels
    ours_model, ours_optimizer = new_training(model_name, device)
    bare_model, bare_optimizer = new_training(model_name, device)
    return {
        "ours": lambda: ours_round(ours_model, ours_optimizer, batches),
        "bare": lambda: bare_round(bare_model, bare_optimizer, images, labels, batch_size),
    }


def measure(model_name, device, batch_size, seconds):
    """Median images/s of ours and of bare over alternating rounds lasting about `seconds` in all."""
    probe = make_rounds(model_name, device, batch_size, steps=1)
    for run_round in probe.values():
        run_round()  # warm-up: allocator, cuDNN autotuning, first-call overheads
    step_seconds = batch_size / images_per_second(probe["bare"], batch_size, device)
    # Rounds of about a twentieth of the budget: long enough to time, short enough to alternate often.
    steps = int(min(64, max(1, seconds / 20 / step_seconds)))
    rounds = make_rounds(model_name, device, batch_size, steps)
    rates = {name: [] for name in rounds}
    started = time.perf_counter()
    while len(rates["ours"]) < 3 or time.perf_counter() - started < seconds:
        for name, run_round in rounds.items():
            rates[name].append(images_per_second(run_round, batch_size * steps, device))
    return statistics.median(rates["ours"]), statistics.median(rates["bare"]), len(rates["ours"]), steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=tuple(MODEL_BUILDERS))
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per model, warm-up aside")
    args = parser.parse_args()
    device = choose_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"device {device}, {torch.get_num_threads()} CPU threads, batch {args.batch_size}, "
          f"about {args.seconds:g} s per model; medians of alternating rounds")
    print(f"{'model':<12} {'ours img/s':>11} {'bare img/s':>11} {'ours/bare':>9} {'rounds':>6} {'steps':>5}")
    for model_name in args.models:
        ours, bare, rounds, steps = measure(model_name, device, args.batch_size, args.seconds)
        print(f"{model_name:<12} {ours:11.0f} {bare:11.0f} {ours / bare:9.3f} {rounds:6d} {steps:5d}", flush=True)


if __name__ == "__main__":
    main()
