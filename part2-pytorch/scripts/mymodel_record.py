"""Time a config's training as the CIFAR-10 speed records are timed, over several seeds and run lengths.

    python scripts/mymodel_record.py [--config configs/config_mymodel_gpu.yaml] [--seeds 5] [--epochs 12 16]
        [--device cuda] [--out OUT] [--seconds 300] [--set KEY=VALUE ...]            (from part2-pytorch/)

The splits go to the device first (timed apart). One warm-up run then trains an epoch and tests once, so that
compilation, CUDA graphs and cuDNN's kernel choices happen outside the timed runs (timed apart too). Each run
after it starts from its seed's initialisation (the weights are copied into the warmed-up model, so compiled
code and graphs stay valid) and its seed's data order, as `main.py --seed S --epochs E` would: the clock runs
from the first training step to the last one finished on the device. Testing is not timed. Runs go epoch
count by epoch count (the config's own when --epochs is not given), all seeds of each; no run starts when
--seconds would not hold it. A row per run on stdout, OUT/record.csv after each, and OUT/record.md: mean and
spread per run length, against the record holder's points (airbench on our copy of CIFAR-10, one H200).
"""
import argparse
import csv
import os
import statistics
import sys
import time

PART2 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PART2)

import cli  # noqa: E402

if __name__ == "__main__":
    cli.before_loading("mymodel_record.py")  # before torch: Ctrl-C quiet while it loads, a missing package one line

import torch  # noqa: E402

import config  # noqa: E402
import files  # noqa: E402
from data import CLASS_NAMES, Cifar, DataError, DeviceBatches  # noqa: E402
from device import bf16_is_faster, choose_device, compile_failure, memory_format, synchronise  # noqa: E402
from main import (TEST_BATCH, build_criterion, build_model, distributed_and_compiled, epoch_schedule,  # noqa: E402
                  stem_images)
from metrics import accuracy  # noqa: E402
from training import Lookahead, set_learning_rate, sgd, train, validate  # noqa: E402

# (name, test accuracy, training seconds): airbench measured on our CIFAR-10 copy on one H200, torch 2.11
# points above airbench's curve: its recipes measured 2.43, 4.97 and 19.9 s on our CIFAR-10 copy on one H200
RECORDS = [("airbench94", 0.908, 2.4), ("airbench95", 0.921, 4.9), ("airbench96", 0.933, 19.9)]
FLOOR = (0.908, 10.0)  # the least the GPU recipe must reach: airbench94's accuracy in under 10 s
COLUMNS = ["epochs", "seed", "train_seconds", "test_acc", "train_loss"]


def verdict(mean_accuracy, mean_seconds):
    """Which record points a (mean accuracy, mean seconds) beats: higher accuracy in less time."""
    beaten = [name for name, acc, seconds in RECORDS if mean_accuracy >= acc and mean_seconds < seconds]
    if beaten:
        return "beats " + ", ".join(beaten)
    floor_met = mean_accuracy >= FLOOR[0] and mean_seconds < FLOOR[1]
    return f"{FLOOR[0]:.1%} in under {FLOOR[1]:.0f} s" if floor_met else "below the goal"


class Recorder:
    """The device-resident splits and the warmed-up model; run(seed, epochs) trains from seed's start and tests."""

    def __init__(self, args, device):
        self.args, self.device = args, device
        started = time.perf_counter()
        layout = memory_format(args.channels_last)
        self.generator = torch.Generator(device=device)
        train_set = Cifar(args.data_dir, train=True)
        self.train_batches = DeviceBatches(train_set, args.batch_size, device, train=True, generator=self.generator,
                                           crop_padding=args.crop_padding, memory_format=layout,
                                           flips=args.flips)
        self.test_batches = DeviceBatches(Cifar(args.data_dir, train=False), max(args.batch_size, TEST_BATCH),
                                          device, train=False, memory_format=layout)
        model = build_model(args, device)
        whitened = getattr(model, "whitened_stem", False)  # its stem is fitted to images, as main.py fits it
        self.stem_images = stem_images(train_set, device, layout) if whitened else None
        synchronise(device)
        self.data_seconds = time.perf_counter() - started
        counts = torch.bincount(self.train_batches.labels.cpu(), minlength=len(CLASS_NAMES)).tolist()
        self.criterion = build_criterion(args, counts).to(device)
        self.train_model, self.test_model, self.model = distributed_and_compiled(model, args, device)
        started = time.perf_counter()
        self.run(seed=0, epochs=1, schedule_epochs=args.epochs)  # compiles every shape a timed run meets
        self.warmup_seconds = time.perf_counter() - started

    def run(self, seed, epochs, schedule_epochs=None):
        """(training seconds, test accuracy, last epoch's training loss) of `epochs` epochs from seed's start."""
        args = self.args
        torch.manual_seed(seed)  # as main.py: the seed, then the model's initialisation
        fresh = build_model(args, torch.device("cpu"))
        self.model.load_state_dict(fresh.state_dict())  # copied in place: the compiled model's tensors stay
        self.generator.manual_seed(seed)
        schedule = argparse.Namespace(**{**vars(args), "epochs": schedule_epochs or epochs})
        optimizer = sgd(self.model.parameters(), args.learning_rate, args.momentum, args.reg, args.nesterov)
        averaging = Lookahead(optimizer, len(self.train_batches), schedule.epochs) if args.lookahead else None
        synchronise(self.device)
        started = time.perf_counter()
        if self.stem_images is not None:  # part of training, as in main.py
            self.model.fit_stem(self.stem_images)
        for epoch in range(1, epochs + 1):
            rate, rate_at_batch = epoch_schedule(schedule, epoch, len(self.train_batches))
            set_learning_rate(optimizer, rate)
            self.train_batches.set_epoch(epoch)
            loss, _ = train(self.train_model, self.train_batches, self.criterion, optimizer, rate_at_batch, args.amp,
                            after_step=averaging and averaging.after_step(epoch))
        if averaging and epochs == schedule.epochs:
            averaging.finish()
        synchronise(self.device)
        seconds = time.perf_counter() - started
        confusion = validate(self.test_model, self.test_batches, len(CLASS_NAMES), args.amp)
        return seconds, accuracy(confusion), loss


def spread(values):
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summary_table(rows, recorder, device_name):
    lines = [f"{recorder.args.model} on {device_name}, torch {torch.__version__}. Data to the device "
             f"{recorder.data_seconds:.1f} s; "
             f"warm-up (compilation, graphs, one epoch and a test pass) {recorder.warmup_seconds:.1f} s, not "
             f"counted below.", "",
             "| epochs | runs | test accuracy (mean ± sd) | training seconds (mean ± sd) | against the record |",
             "|---|---|---|---|---|"]
    for epochs in dict.fromkeys(row["epochs"] for row in rows):
        mine = [row for row in rows if row["epochs"] == epochs]
        accuracies, seconds = [row["test_acc"] for row in mine], [row["train_seconds"] for row in mine]
        lines.append(f"| {epochs} | {len(mine)} | {statistics.mean(accuracies):.4f} ± {spread(accuracies):.4f} | "
                     f"{statistics.mean(seconds):.2f} ± {spread(seconds):.2f} | "
                     f"{verdict(statistics.mean(accuracies), statistics.mean(seconds))} |")
    lines += ["", "Points to beat: " + "; ".join(f"{name} {acc:.1%} in under {seconds} s"
                                              for name, acc, seconds in RECORDS)]
    return "\n".join(lines) + "\n"


def write_results(out, rows, table):
    def write_csv(f):
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    files.write_atomically(os.path.join(out, "record.csv"), write_csv, mode="w")
    files.write_atomically(os.path.join(out, "record.md"), lambda f: f.write(table), mode="w")


def parse_arguments(argv):
    parser = cli.CommandLineParser(prog="mymodel_record.py", description=(__doc__ or "").partition("\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=cli.path_argument("the recipe's YAML file"),
                        default="configs/config_mymodel_gpu.yaml", help="the recipe (default: %(default)s)")
    parser.add_argument("--seeds", type=cli.number_at_least(1), default=5,
                        help="runs per run length: seeds 0..N-1 (default: %(default)s)")
    parser.add_argument("--epochs", type=cli.number_at_least(1), nargs="+",
                        help="run lengths in epochs (default: the config's)")
    parser.add_argument("--device", default="auto", help="auto (default), cuda, cuda:N, mps or cpu")
    parser.add_argument("--out", type=cli.path_argument("a folder for record.csv and record.md"),
                        help="folder for record.csv and record.md (a new one, or one without them)")
    parser.add_argument("--seconds", type=cli.number_at_least(0, float), default=float("inf"),
                        help="start no run that would end past this many seconds from the start (default: no limit)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the config (repeatable)")
    return parser.parse_args(argv)


def out_problem(out):
    """Why the results cannot go to the folder `out` (None when they can), found before any run: an earlier
    record there is kept, not replaced; a file in the folder's place or a disk that refuses it is named."""
    earlier = [name for name in ("record.csv", "record.md") if os.path.lexists(os.path.join(out, name))]
    if earlier:
        return f"{out} already holds {' and '.join(earlier)} of an earlier record; give another --out, or move them"
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        return files.os_error_line(error)
    return None


def main(argv=None):
    options = parse_arguments(argv)
    problem = (cli.wrong_folder(__file__, [options.config, options.out], home=PART2)
               or (options.out and out_problem(options.out)))
    if problem:
        print(cli.error_line("mymodel_record.py", problem), file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        device = choose_device(options.device)
        args = config.run_arguments(options.config, [config.parse_override(text) for text in options.set],
                                    device=device)
        if args.amp == "auto":
            args.amp = bf16_is_faster(device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        recorder = Recorder(args, device)
    except (config.ConfigError, DataError, FileNotFoundError, ValueError) as error:
        print(cli.error_line("mymodel_record.py", error), file=sys.stderr)
        return 2
    except RuntimeError as error:  # torch.compile failing in the warm-up, before any timed run
        if compile_failure(error) is None:
            raise
        print(cli.error_line("mymodel_record.py", f"{compile_failure(error)}; run with --set compile=none"),
              file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    print(f"{args.model} on {device_name}, amp {args.amp}, compile {args.compile}: data {recorder.data_seconds:.1f} s, "
          f"warm-up {recorder.warmup_seconds:.1f} s", flush=True)
    rows, slowest_epoch = [], 0.0
    for epochs in options.epochs or [args.epochs]:
        for seed in range(options.seeds):
            if time.perf_counter() - started + slowest_epoch * (epochs + 1) > options.seconds:
                print(f"skipped: {epochs} epochs, seed {seed} (no time left)", flush=True)
                continue
            seconds, test_accuracy, loss = recorder.run(seed, epochs)
            slowest_epoch = max(slowest_epoch, seconds / epochs)
            rows.append(dict(epochs=epochs, seed=seed, train_seconds=round(seconds, 3),
                             test_acc=round(test_accuracy, 4), train_loss=round(loss, 4)))
            print(" ".join(f"{key} {value}" for key, value in rows[-1].items()), flush=True)
            if options.out:
                try:
                    write_results(options.out, rows, summary_table(rows, recorder, device_name))
                except OSError as error:  # a full disk: the rows printed above are the record so far
                    print(cli.error_line("mymodel_record.py", files.os_error_line(error)), file=sys.stderr)
                    return 2
    table = summary_table(rows, recorder, device_name) if rows else "no run finished\n"
    print(table, end="")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(cli.quiet_when_the_pipe_closes(main))
