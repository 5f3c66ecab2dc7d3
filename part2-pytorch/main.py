"""Train a CIFAR-10 classifier:  python main.py --config configs/<name>.yaml [--epochs 2] [--set key=value] ...

The config's sections (Train, network, data, loss) are flattened onto the run's arguments; config.py lists every
setting and its allowed values, and each one can be overridden from the command line. Every epoch trains,
validates on the test set and prints one row. runs/<name>/ (--name, default: the config's file name) keeps
metrics.csv, plots, the resolved config, best.pth and last.pth for --resume; with save_best the best weights also
go to checkpoints/<model>.pth when they beat the weights there (--overwrite-checkpoint: always, as the kit).
--evaluate CHECKPOINT only tests saved weights. Bad input ends with one line on stderr and exit status 2.
Under `torchrun --nproc_per_node=N main.py ...` one run trains over N processes (distributed.py).
"""
import argparse
import contextlib
import functools
import math
import os
import re
import sys
import time

import torch

import checkpointing
import cli
import config
import distributed
from data import CLASS_NAMES, IMBALANCECIFAR10, Cifar, DataError, DeviceBatches
from device import choose_device
from losses import LOSS_BUILDERS, init_prior_bias, reweight
from metrics import accuracy, per_class_accuracy
from models import MODEL_BUILDERS
from progress import batch_bar
from runlog import RunBusy, RunLog, format_header, format_per_class, format_row
from training import learning_rate_at, linear_learning_rate_at, set_learning_rate, sgd, train, validate

TEST_BATCH = 500  # evaluation needs no small batches: larger ones keep a GPU busy
RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*(/[A-Za-z0-9_][A-Za-z0-9_.=-]*)*")


class Diverged(Exception):
    """The training loss or the weights stopped being finite numbers."""


class Interrupted(Exception):
    """Ctrl-C during a run; the message says what the run folder holds."""


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


def run_name_argument(name):
    if not RUN_NAME.fullmatch(name) or ".." in name.split("/"):
        raise argparse.ArgumentTypeError(f"{name!r} is not a run name; use letters, digits, '_', '-', '.', '=' "
                                         "(and '/' between folder names)")
    return name


def parse_arguments(argv=None):
    parser = cli.CommandLineParser(prog="main.py", description=__doc__.split("\n\n")[0], allow_abbrev=False,
                               formatter_class=cli.HelpFormatter)
    parser.add_argument("--config", help="YAML config with sections Train, network, data, loss (required to train)")
    parser.add_argument("--name", type=run_name_argument, help="the run folder runs/NAME (default: the config's "
                                                               "file name)")
    parser.add_argument("--device", type=device_argument, default="auto",
                        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and augmentation")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--resume", action="store_true", help="continue the run in runs/NAME from its last.pth")
    action.add_argument("--evaluate", metavar="CHECKPOINT", help="test saved weights, no training (the model is "
                                                                "read from the checkpoint; --config is optional)")
    parser.set_defaults(overrides=[])
    parser.add_argument("--set", action=Override, metavar="KEY=VALUE", default=argparse.SUPPRESS,
                        help="override any setting, e.g. --set imb_factor=0.1 (repeatable)")
    overrides = parser.add_argument_group("settings (override the config's values)")
    for key, setting in config.SETTINGS.items():
        flags = dict.fromkeys(("--" + key.replace("_", "-"), "--" + key))  # --batch-size and --batch_size
        switch = dict(nargs="?", const="true") if isinstance(setting.kind, config.Boolean) else {}  # --amp = --amp true
        default = "required in the config" if setting.default is config.REQUIRED else f"default {setting.default}"
        overrides.add_argument(*flags, dest=key, action=Override, metavar="VALUE", default=argparse.SUPPRESS,
                               help=f"{setting.help}: {setting.kind.allowed} ({default})".replace("%", "%%"),
                               **switch)
    args = parser.parse_args(argv)
    if args.config is None and args.evaluate is None:
        parser.error("the following arguments are required: --config (or --evaluate CHECKPOINT)")
    return args


def load_training_set(args):
    if args.imbalance == "regular":
        return Cifar(args.data_dir, train=True)
    return IMBALANCECIFAR10(args.data_dir, imb_type=args.imb_type, imb_factor=args.imb_factor)


def build_criterion(args, cls_num_list):
    """The configured loss. Equal class weights (a balanced training set) are no weights: the same loss, without
    a weighted mean's rounding."""
    weight = reweight(cls_num_list, args.beta) if args.reweight and len(set(cls_num_list)) > 1 else None
    smoothing = {"label_smoothing": args.label_smoothing} if args.label_smoothing else {}  # CE only (config.py)
    return LOSS_BUILDERS[args.loss_type](weight, args.gamma, **smoothing)


def init_output_bias(args, model):
    """The sigmoid focal loss starts the model's output bias at the class prior, as the paper does."""
    output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]  # in every model here
    if output_layer.bias is None:
        raise config.ConfigError(f"loss_type SigmoidFocal needs an output layer with a bias for its prior "
                                 f"initialisation; {args.model} has none, use CE or Focal")
    init_prior_bias(output_layer)


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
    if not args.evaluate and args.batch_size < ranks:
        raise config.ConfigError(f"Train.batch_size = {args.batch_size} is the global batch and cannot be split "
                                 f"over {ranks} ranks; expected at least {ranks}")
    if ranks > 1 and args.device.type == "mps":
        raise config.ConfigError("torchrun with --device mps is not supported; use cuda or cpu")


def check_working_folder(paths):
    problem = cli.wrong_folder(__file__, paths)
    if problem:
        raise config.ConfigError(problem)


def model_of_checkpoint(state, path):
    fitting = checkpointing.models_fitting(state)
    if len(fitting) != 1:
        fits = " and ".join(fitting) if fitting else "none of " + ", ".join(MODEL_BUILDERS)
        raise checkpointing.CheckpointError(f"checkpoint {path} fits {fits}; name the model with --model")
    return fitting[0]


def tested_with_bar(model, batches, args, device, description, progress):
    bar = batch_bar(len(batches), description, device) if progress else None
    try:
        return validate(model, batches, len(CLASS_NAMES), args.amp, on_batch=bar)
    finally:
        if bar:
            bar.close()


def evaluate(args, device):
    state = checkpointing.read_weights(args.evaluate)
    model_name = args.model or model_of_checkpoint(state, args.evaluate)
    test_batches = DeviceBatches(Cifar(args.data_dir, train=False), max(args.batch_size or 0, TEST_BATCH), device,
                                 train=False, memory_format=memory_format(args))
    model = MODEL_BUILDERS[model_name]()
    checkpointing.load_into(model, state, model_name, args.evaluate)
    model = model.to(device, memory_format=memory_format(args))
    confusion = tested_with_bar(model, test_batches, args, device, "test", progress=True)
    print(f"{args.evaluate} ({model_name}) on {len(test_batches.labels)} test images: "
          f"Prec@1 {accuracy(confusion):.4f}")
    print(format_per_class(CLASS_NAMES, per_class_accuracy(confusion)))


def run_settings(args):
    """What the run's weights depend on, as saved in last.pth and compared on --resume."""
    return dict({key: getattr(args, key) for key in config.SETTINGS}, seed=args.seed)


def resumed_state(args, run):
    """The run state in run.last_path, after checking that this command continues that same run."""
    if not os.path.exists(run.last_path):
        raise checkpointing.CheckpointError(f"{run.last_path} does not exist: {run.folder} has no finished epoch "
                                            f"to resume; start the run without --resume")
    state = checkpointing.read_run_state(run.last_path)
    saved, current = state["settings"], run_settings(args)
    conflicts = config.resume_conflicts(saved, current)
    if conflicts:
        then = ", ".join(f"{key} {config.shown(saved.get(key))}" for key in conflicts)
        now = ", ".join(f"{key} {config.shown(current[key])}" for key in conflicts)
        raise config.ConfigError(f"--resume: {run.folder} was trained with {then}, this command asks for {now}; "
                                 f"resume with the run's settings, or start a new run (--name NEW)")
    if args.epochs < state["epoch"]:
        raise config.ConfigError(f"--resume: {run.folder} has finished {state['epoch']} epochs, more than "
                                 f"Train.epochs = {args.epochs}")
    return state


def fit(args, device, run_name=None, echo=print, progress=False):
    """Train as configured; returns {"final": ..., "best": ...} (confusion matrices of the test set) and "model"
    (the trained model). The run folder is runs/<run_name> (default: the config's file name); echo receives every
    console line; `progress` shows a bar over each pass at a terminal."""
    if not distributed.is_main():
        echo, progress = (lambda line: None), False  # rank 0 speaks for the run
    writes = distributed.is_main()  # only rank 0 writes files
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
    if args.loss_type == "SigmoidFocal":
        init_output_bias(args, model)
    model = model.to(device, memory_format=memory_format(args))
    criterion = build_criterion(args, cls_num_list).to(device)
    trained = tested = model  # what training and validation call: DDP under torchrun trains, the plain model tests
    if distributed.world_size() > 1:
        trained = distributed.wrap(model, device)
        model = tested = trained.module  # SyncBatchNorm may have replaced layers: checkpoints hold these
    optimizer = sgd(model.parameters(), args.learning_rate, args.momentum, args.reg, args.nesterov)
    if args.compile != "none":
        compiled = functools.partial(torch.compile, mode=None if args.compile == "default" else args.compile)
        trained, tested = (compiled(trained), compiled(tested)) if trained is not tested else (compiled(model),) * 2

    run = RunLog(os.path.join("runs", run_name or os.path.splitext(os.path.basename(args.config))[0]), CLASS_NAMES)
    with run if writes else contextlib.nullcontext():
        state = resumed_state(args, run) if args.resume else None
        if state:
            checkpointing.restore_run_state(state, run.last_path, model, args.model, optimizer, generator)
            echo(f"resuming {run.folder} after epoch {state['epoch']}")
        elif writes:
            moved = run.set_aside()
            if moved:
                echo(f"{run.folder} held an earlier run: moved to {moved}")
        if writes:
            run.start(config.as_sections(vars(args)), f"resolved by main.py; run with --seed {args.seed}",
                      state["rows"] if state else ())
        graded = graded_checkpoint(args, device, test_batches, echo, run) if args.save_best else None

        parameters = sum(p.numel() for p in model.parameters())
        ranks = f" x {distributed.world_size()} ranks" if distributed.world_size() > 1 else ""
        echo(f"{run.folder}: {args.model} ({parameters:,} parameters) on {device}{ranks}, seed {args.seed}; "
             f"{len(train_set)} training images ({args.imbalance}, per class {cls_num_list}), "
             f"{len(test_set)} test images")
        best = state["best"] if state else None
        confusion = state["confusion"] if state else None
        first_epoch = state["epoch"] + 1 if state else 1
        if first_epoch > args.epochs:
            echo(f"{run.folder} has finished all {args.epochs} epochs; nothing to train (raise --epochs to go on)")
            return {"final": confusion, "best": best["confusion"], "model": model}
        echo(format_header())
        epoch = first_epoch
        try:
            for epoch in range(first_epoch, args.epochs + 1):
                started = time.perf_counter()
                rate, rate_at_batch = epoch_schedule(args, epoch, len(train_batches))
                set_learning_rate(optimizer, rate)
                bar = batch_bar(len(train_batches), f"epoch {epoch}", device) if progress else None
                train_loss, train_accuracy = train(trained, train_batches, criterion, optimizer, rate_at_batch,
                                                   args.amp, on_batch=bar)
                if bar:
                    bar.close()
                if not (math.isfinite(train_loss) and checkpointing.all_finite(model.state_dict())):
                    raise Diverged(divergence_note(run, epoch, train_loss, args))
                confusion = tested_with_bar(tested, test_batches, args, device, "test", progress)
                row = dict(epoch=epoch, lr=rate, train_loss=train_loss, train_acc=train_accuracy,
                           test_acc=accuracy(confusion), seconds=time.perf_counter() - started)
                improved = best is None or row["test_acc"] > best["accuracy"]
                if improved:
                    best = dict(accuracy=row["test_acc"], epoch=epoch, confusion=confusion,
                                model=checkpointing.cpu_state_dict(model))
                if writes:
                    if improved:
                        checkpointing.save_atomically(best["model"], run.best_path)
                        if graded:
                            graded.offer(best["model"], best["accuracy"])
                    run.add(row, per_class_accuracy(confusion))
                    checkpointing.save_run_state(run.last_path, run_settings(args), run.rows, confusion, model,
                                                 optimizer, best, generator)
                    run.write_metrics()  # after last.pth: a resume rewrites metrics.csv from last.pth's rows
                echo(format_row(row, per_class_accuracy(confusion)))
        except KeyboardInterrupt:
            raise Interrupted(interruption_note(run, epoch, args)) from None

        if writes:
            run.plot_learning_curves(f"{run.folder}: {args.model}")
            run.save_confusion(best["confusion"], f"{run.folder}: {args.model}, epoch {best['epoch']}, "
                                                  f"accuracy {best['accuracy']:.4f}")
    echo(f"Best Prec@1 {best['accuracy']:.4f} at epoch {best['epoch']}; per-class accuracy:")
    echo(format_per_class(CLASS_NAMES, per_class_accuracy(best["confusion"])))
    echo(checkpoint_note(graded, best, run) if graded else
         f"save_best is false: checkpoints/ untouched; the best weights are in {run.best_path}")
    return {"final": confusion, "best": best["confusion"], "model": model}


def graded_checkpoint(args, device, test_batches, echo, run):
    """checkpoints/<model>.pth, guarded so that this run replaces it only with better weights."""
    def score(state_dict):
        scored = MODEL_BUILDERS[args.model]()
        scored.load_state_dict(state_dict)
        return accuracy(validate(scored.to(device, memory_format=memory_format(args)), test_batches,
                                 len(CLASS_NAMES), args.amp))

    path = os.path.join("checkpoints", args.model.lower() + ".pth")
    graded = checkpointing.GradedCheckpoint(path, args.model, score, args.overwrite_checkpoint)
    if graded.problem and not args.overwrite_checkpoint:
        echo(f"{path} is kept: {graded.problem}; this run's best weights go to {run.best_path} "
             f"(--overwrite-checkpoint replaces it)")
    elif math.isfinite(graded.baseline) and not args.overwrite_checkpoint:
        echo(f"{path} scores {graded.baseline:.4f}; this run replaces it only with better weights "
             f"(--overwrite-checkpoint: with its best, as the kit does)")
    return graded


def checkpoint_note(graded, best, run):
    if graded.saved is not None:
        return f"saved {graded.path} (Prec@1 {graded.saved:.4f})"
    there = "cannot be scored" if graded.problem else f"scores {graded.baseline:.4f}"
    return (f"kept {graded.path}, which {there}: this run's best, {best['accuracy']:.4f}, is not better; its "
            f"weights are in {run.best_path} (--overwrite-checkpoint replaces the file)")


def divergence_note(run, epoch, train_loss, args):
    problem = f"the training loss is {train_loss:.4g}" if not math.isfinite(train_loss) else "weights are not finite"
    kept = f"{run.last_path} holds epoch {run.rows[-1]['epoch']}" if run.rows else "no epoch had finished"
    return (f"epoch {epoch}: {problem}: the run diverged and nothing of this epoch was saved ({kept}); lower "
            f"learning_rate (now {args.learning_rate:g}) or add warmup, and start afresh")


def interruption_note(run, epoch, args):
    if not run.rows:
        return f"interrupted in epoch {epoch}; no epoch had finished, so there is nothing to resume"
    again = " ".join(sys.argv[1:]) if sys.argv[1:] else f"--config {args.config}"
    again += "" if "--resume" in again else " --resume"
    return f"interrupted in epoch {epoch}; {run.folder} holds epochs 1-{run.rows[-1]['epoch']}: continue with " \
           f"python main.py {again}"


def main(argv=None):
    args = parse_arguments(argv)
    try:
        check_working_folder([args.config] if args.config else [])
        vars(args).update(config.load_config(args.config, args.overrides, required=not args.evaluate))
        check_working_folder([args.data_dir])
        if args.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
        check_ranks(args)
        if args.evaluate:
            evaluate(args, args.device)
        else:
            fit(args, distributed.start(args.device), args.name, lambda line: print(line, flush=True), progress=True)
    except (config.ConfigError, checkpointing.CheckpointError, DataError, RunBusy, FileNotFoundError) as error:
        print(f"main.py: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader of our output went away: see cli.quiet_when_the_pipe_closes
    except OSError as error:  # a full or read-only disk, a folder where a file should be
        print(f"main.py: error: {error.filename or 'a file'}: {error.strerror or error}; free space or fix the "
              f"permissions, then run again", file=sys.stderr)
        return 2
    except Diverged as error:
        print(f"main.py: error: {error}", file=sys.stderr)
        return 1
    except Interrupted as error:
        print(f"\n{error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted before the first epoch; there is nothing to resume", file=sys.stderr)
        return 130
    finally:
        distributed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(cli.quiet_when_the_pipe_closes(main))
