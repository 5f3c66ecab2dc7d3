"""Train a CIFAR-10 classifier:  python main.py --config configs/<name>.yaml [--epochs 2] [--set key=value] ...

The config's sections (Train, network, data, loss) are flattened onto the run's arguments; config.py lists every
setting and its allowed values, and each one can be overridden from the command line. Every epoch trains,
validates on the test set and prints one row; the best weights go to checkpoints/<model>.pth (with save_best),
and runs/<config name>/ keeps metrics.csv, plots, the resolved config and last.pth for --resume.
--evaluate CHECKPOINT only tests saved weights. Bad input ends with one line on stderr and exit status 2.
Under `torchrun --nproc_per_node=N main.py ...` one run trains over N processes (distributed.py).
"""
import argparse
import functools
import os
import sys
import time

import torch

import checkpointing
import config
import distributed
from data import CLASS_NAMES, IMBALANCECIFAR10, Cifar, DeviceBatches
from device import choose_device
from losses import LOSS_BUILDERS, init_prior_bias, reweight
from metrics import accuracy, per_class_accuracy
from models import MODEL_BUILDERS
from runlog import RunLog, format_header, format_per_class, format_row
from training import learning_rate_at, linear_learning_rate_at, set_learning_rate, sgd, train, validate


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class Override(argparse.Action):
    """Collects config overrides, in command-line order, as (key, value) pairs in `overrides`."""

    def __call__(self, parser, namespace, text, option_string=None):
        try:
            pair = config.parse_override(text) if self.dest == "set" else (self.dest, config.parse_value(text))
        except config.ConfigError as error:
            parser.error(str(error))
        namespace.overrides = [*namespace.overrides, pair]


def device_argument(name):
    try:
        return choose_device(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_arguments(argv=None):
    parser = OneLineErrorParser(prog="main.py", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config with sections Train, network, data, loss")
    parser.add_argument("--device", type=device_argument, default="auto",
                        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and augmentation")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--resume", action="store_true", help="continue the run from runs/<config name>/last.pth")
    action.add_argument("--evaluate", metavar="CHECKPOINT", help="test saved weights; no training")
    parser.set_defaults(overrides=[])
    parser.add_argument("--set", action=Override, metavar="KEY=VALUE", default=argparse.SUPPRESS,
                        help="override any setting, e.g. --set imb_factor=0.1 (repeatable)")
    overrides = parser.add_argument_group("settings (override the config's values)")
    for key, setting in config.SETTINGS.items():
        flags = dict.fromkeys(("--" + key.replace("_", "-"), "--" + key))  # --batch-size and --batch_size
        switch = dict(nargs="?", const="true") if isinstance(setting.kind, config.Boolean) else {}  # --amp = --amp true
        overrides.add_argument(*flags, dest=key, action=Override, metavar="VALUE", default=argparse.SUPPRESS,
                               help=f"{setting.help}: {setting.kind.allowed}", **switch)
    return parser.parse_args(argv)


def load_training_set(args):
    if args.imbalance == "regular":
        return Cifar(args.data_dir, train=True)
    return IMBALANCECIFAR10(args.data_dir, imb_type=args.imb_type, imb_factor=args.imb_factor)


def build_criterion(args, cls_num_list, model):
    """The configured loss; the sigmoid focal loss also starts the model's output bias at the class prior."""
    weight = reweight(cls_num_list, args.beta) if args.reweight else None
    if args.loss_type == "SigmoidFocal":
        output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]  # in every model here
        if output_layer.bias is None:
            raise config.ConfigError(f"loss_type SigmoidFocal needs an output layer with a bias for its prior "
                                     f"initialisation; {args.model} has none, use CE or Focal")
        init_prior_bias(output_layer)
    smoothing = {"label_smoothing": args.label_smoothing} if args.label_smoothing else {}  # CE only (config.py)
    return LOSS_BUILDERS[args.loss_type](weight, args.gamma, **smoothing)


TEST_BATCH = 500  # evaluation needs no small batches: larger ones keep a GPU busy


def memory_format(args):
    return torch.channels_last if args.channels_last else torch.contiguous_format


def epoch_schedule(args, epoch, batches_per_epoch):
    """(rate shown for the epoch, rate_at_batch for train(), or None when the rate is fixed for the epoch).
    A linear schedule changes the rate every batch; the epoch shows the rate of its middle batch."""
    if args.lr_schedule == "step":
        return learning_rate_at(epoch, args.learning_rate, args.warmup, args.steps), None

    def rate_at_batch(batch):
        progress = epoch - 1 + (batch + 0.5) / batches_per_epoch
        return linear_learning_rate_at(progress, args.learning_rate, args.warmup, args.epochs)
    return rate_at_batch(batches_per_epoch // 2), rate_at_batch


def check_ranks(args):
    ranks = distributed.launched_world_size()
    if ranks > 1 and args.evaluate:
        raise config.ConfigError("--evaluate runs in one process; run it with python, not torchrun")
    if args.batch_size < ranks:
        raise config.ConfigError(f"Train.batch_size = {args.batch_size} is the global batch and cannot be split "
                                 f"over {ranks} ranks; expected at least {ranks}")
    if ranks > 1 and args.device.type == "mps":
        raise config.ConfigError("torchrun with --device mps is not supported; use cuda or cpu")


def evaluate(args, device):
    test_batches = DeviceBatches(Cifar(args.data_dir, train=False), max(args.batch_size, TEST_BATCH), device,
                                 train=False, memory_format=memory_format(args))
    model = MODEL_BUILDERS[args.model]()
    checkpointing.load_weights(model, args.evaluate, args.model)
    model = model.to(device, memory_format=memory_format(args))
    confusion = validate(model, test_batches, len(CLASS_NAMES), args.amp)
    print(f"{args.evaluate} ({args.model}) on {len(test_batches.labels)} test images: "
          f"Prec@1 {accuracy(confusion):.4f}")
    print(format_per_class(CLASS_NAMES, per_class_accuracy(confusion)))


def fit(args, device, run_name=None, echo=print):
    """Train as configured; returns the confusion matrices {"final": ..., "best": ...} of the test set.
    The run folder is runs/<run_name> (default: the config's file name); echo receives every console line."""
    if not distributed.is_main():
        echo = lambda line: None  # noqa: E731 (rank 0 speaks for the run)
    torch.manual_seed(args.seed)
    train_set = load_training_set(args)
    test_set = Cifar(args.data_dir, train=False)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    train_batches = DeviceBatches(train_set, args.batch_size, device, train=True, generator=generator,
                                  crop_padding=args.crop_padding, memory_format=memory_format(args))
    test_batches = DeviceBatches(test_set, max(args.batch_size, TEST_BATCH), device, train=False,
                                 memory_format=memory_format(args))
    cls_num_list = torch.bincount(train_batches.labels.cpu(), minlength=len(CLASS_NAMES)).tolist()

    model = MODEL_BUILDERS[args.model]()
    criterion = build_criterion(args, cls_num_list, model)
    model, criterion = model.to(device, memory_format=memory_format(args)), criterion.to(device)
    trained = distributed.wrap(model, device)  # what the training steps call: DDP under torchrun
    model = getattr(trained, "module", trained)  # the plain model: checkpoints
    tested = model  # what validation calls: never DDP, whose forward would need every rank in step
    if args.compile != "none":
        compiled = functools.partial(torch.compile, mode=None if args.compile == "default" else args.compile)
        tested = compiled(model)
        trained = tested if trained is model else compiled(trained)
    optimizer = sgd(model.parameters(), args.learning_rate, args.momentum, args.reg, args.nesterov)

    run_name = run_name or os.path.splitext(os.path.basename(args.config))[0]
    run = RunLog(os.path.join("runs", run_name), CLASS_NAMES)
    checkpoint_path = os.path.join("checkpoints", args.model.lower() + ".pth")
    last_epoch, best = 0, None
    if args.resume:
        last_epoch, best = checkpointing.restore_run_state(run.last_path, model, args.model, optimizer, generator)
        echo(f"resuming {run.folder} after epoch {last_epoch}")
    elif os.path.exists(run.last_path):
        echo(f"starting {run.folder} afresh (--resume would continue the run there)")
    writes = distributed.is_main()  # only rank 0 writes files
    if writes:
        run.start(config.as_sections(vars(args)), f"resolved by main.py; run with --seed {args.seed}", last_epoch)

    parameters = sum(p.numel() for p in model.parameters())
    ranks = f" x {distributed.world_size()} ranks" if distributed.world_size() > 1 else ""
    echo(f"{run_name}: {args.model} ({parameters:,} parameters) on {device}{ranks}, seed {args.seed}; "
          f"{len(train_set)} training images ({args.imbalance}, per class {cls_num_list}), "
          f"{len(test_set)} test images")
    echo(format_header())
    confusion = best["confusion"] if best else None  # stays so when a resumed run has no epochs left
    for epoch in range(last_epoch + 1, args.epochs + 1):
        started = time.perf_counter()
        rate, rate_at_batch = epoch_schedule(args, epoch, len(train_batches))
        set_learning_rate(optimizer, rate)
        train_loss, train_accuracy = train(trained, train_batches, criterion, optimizer, rate_at_batch, args.amp)
        confusion = validate(tested, test_batches, len(CLASS_NAMES), args.amp)
        row = dict(epoch=epoch, lr=rate, train_loss=train_loss, train_acc=train_accuracy,
                   test_acc=accuracy(confusion), seconds=time.perf_counter() - started)
        if best is None or row["test_acc"] > best["accuracy"]:
            best = dict(accuracy=row["test_acc"], epoch=epoch, confusion=confusion,
                        model=checkpointing.cpu_state_dict(model))
            if args.save_best and writes:
                checkpointing.save_atomically(best["model"], checkpoint_path)
        if writes:
            run.append(row, per_class_accuracy(confusion))
            checkpointing.save_run_state(run.last_path, epoch, model, optimizer, best, generator)
        echo(format_row(row, per_class_accuracy(confusion)))

    if writes:
        run.plot_learning_curves()
        run.save_confusion(best["confusion"], f"{args.model}, epoch {best['epoch']}: accuracy {best['accuracy']:.4f}")
    echo(f"Best Prec@1 {best['accuracy']:.4f} at epoch {best['epoch']}; per-class accuracy:")
    echo(format_per_class(CLASS_NAMES, per_class_accuracy(best["confusion"])))
    echo(f"saved {checkpoint_path}" if args.save_best else "save_best is false: no checkpoint written")
    return {"final": confusion, "best": best["confusion"], "model": model}


def main(argv=None):
    args = parse_arguments(argv)
    try:
        vars(args).update(config.load_config(args.config, args.overrides))
        if args.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
        check_ranks(args)
        if args.evaluate:
            evaluate(args, args.device)
        else:
            fit(args, distributed.start(args.device), echo=lambda line: print(line, flush=True))
    except (config.ConfigError, checkpointing.CheckpointError, FileNotFoundError) as error:
        print(f"main.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; continue with --resume", file=sys.stderr)
        return 130
    finally:
        distributed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
