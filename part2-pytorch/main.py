"""Train a CIFAR-10 classifier:  python main.py --config configs/<name>.yaml [--epochs 2] [--set key=value] ...

The config's sections (Train, network, data, loss) are flattened onto the run's arguments; config.py lists every
setting and its allowed values, and each one can be overridden from the command line. Every epoch trains,
validates on the test set (every test_every epochs and after the last, when set) and prints one row.
runs/<name>/ (--name, default: the config's file name) keeps metrics.csv, plots, the resolved config, best.pth and
last.pth for --resume; with save_best the best weights also go to checkpoints/<model>.pth when they beat the
weights there (--overwrite-checkpoint: always, as the kit).
--evaluate CHECKPOINT only tests saved weights. Bad input ends with one line on stderr and exit status 2.
Under `torchrun --nproc_per_node=N main.py ...` one run trains over N processes (distributed.py).
"""
import argparse
import contextlib
import dataclasses
import math
import os
import sys
import time

import cli

if __name__ == "__main__":
    cli.before_loading("main.py")  # before torch: Ctrl-C quiet while it loads, a missing package one line

import numpy as np
import torch

import checkpointing
import config
import distributed
import files
from data import CLASS_NAMES, IMBALANCECIFAR10, Cifar, DataError, DeviceBatches, normalise
from device import bf16_is_faster, choose_device, compile_failure, compiled, memory_format
from losses import LOSS_BUILDERS, init_prior_bias, reweight
from metrics import accuracy, per_class_accuracy
from models import MODEL_BUILDERS
from progress import batch_bar
from run_state import (Diverged, Interrupted, check_finite, check_writable, checkpoint_note, graded_checkpoint,
                       graded_path, interrupted_as, interruption, resume_command, resumed_state, run_settings)
from runlog import RunBusy, RunLog, format_header, format_per_class, format_row
from training import Lookahead, learning_rate_at, linear_learning_rate_at, set_learning_rate, sgd, train, validate

TEST_BATCH = 500  # evaluation needs no small batches: larger ones keep a GPU busy
STEM_IMAGES = 5000  # enough 2x2 patches (4.8 million) for a steady 12x12 covariance


class Override(argparse.Action):
    """Collects config overrides, in command-line order, as (key, value) pairs in `overrides`."""

    def __call__(self, parser, namespace, text, option_string=None):
        try:
            if self.dest == "set":
                pair = config.parse_override(text)
            else:
                pair = (self.dest, config.parse_value(text, self.dest))
        except config.ConfigError as error:
            parser.error(str(error))
        namespace.overrides = [*namespace.overrides, pair]  # a new list: the default one is shared between parses


def device_argument(name):
    try:
        return choose_device(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def default_run_name(config_path):
    """The config's file name, as a run folder's name, when every system takes it (a user may name a config
    anything, in any language; Windows refuses some characters and names)."""
    name = os.path.splitext(os.path.basename(config_path))[0]
    if (not name or cli.WINDOWS_DEVICE.fullmatch(name) or name.endswith((".", " "))
            or cli.WINDOWS_REFUSES.search(name)):
        raise config.ConfigError(f"runs/{name}, the run folder named after the config's file, is not a folder "
                                 f"name every system takes; name the run with --name NAME")
    return name


EVALUATION_SETTINGS = ("data_dir", "batch_size", "model", "amp", "channels_last")  # what --evaluate reads


def parse_arguments(argv=None):
    parser = cli.CommandLineParser(prog="main.py", description=(__doc__ or "").partition("\n\n")[0], allow_abbrev=False,
                               formatter_class=cli.HelpFormatter)
    parser.add_argument("--config", type=cli.path_argument("the YAML config, e.g. configs/config_twolayer.yaml"),
                        help="YAML config with sections Train, network, data, loss (required to train)")
    parser.add_argument("--name", type=cli.run_name_argument, help="the run folder runs/NAME (default: the config's "
                                                               "file name)")
    parser.add_argument("--device", type=device_argument, default="auto",
                        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=cli.integer_between(0, 2**63 - 1), default=0,
                        help="seed of initialisation, shuffling and augmentation")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--resume", action="store_true", help="continue the run in runs/NAME from its last.pth")
    action.add_argument("--evaluate", metavar="CHECKPOINT",
                        type=cli.path_argument("the checkpoint to test, e.g. checkpoints/twolayernet.pth"),
                        help="test saved weights, no training (the model is read from the checkpoint; --config is "
                             "optional)")
    parser.set_defaults(overrides=[])  # (key, value) pairs, in command-line order
    parser.add_argument("--set", action=Override, metavar="KEY=VALUE", default=argparse.SUPPRESS,
                        help="override any setting, e.g. --set imb_factor=0.1 (repeatable)")
    overrides = parser.add_argument_group("settings (override the config's values)")
    for key, setting in config.SETTINGS.items():
        switches = isinstance(setting.kind, (config.Boolean, config.BooleanOrAuto))
        switch = dict(nargs="?", const="true") if switches else {}  # --amp = --amp true
        default = f" (default {setting.default})"
        if setting.default is config.REQUIRED:
            default = " (required in the config)"
        elif setting.default is None:  # its help says what the default depends on
            default = ""
        overrides.add_argument("--" + key.replace("_", "-"), dest=key, action=Override, metavar="VALUE",
                               default=argparse.SUPPRESS,
                               help=f"{setting.help}: {setting.kind.allowed}{default}".replace("%", "%%"),
                               **switch)
    args = parser.parse_args(argv)
    if args.config is None and args.evaluate is None:
        parser.error("the following arguments are required: --config (or --evaluate CHECKPOINT)")
    unused = [key for key, _ in args.overrides if key not in EVALUATION_SETTINGS] + (["name"] if args.name else [])
    if args.evaluate is not None and unused:  # a flag that would seem to change the test but does nothing
        flags = lambda keys: ", ".join("--" + key.replace("_", "-") for key in dict.fromkeys(keys))  # noqa: E731
        parser.error(f"--evaluate tests saved weights and trains nothing: {flags(unused)} would do nothing there; "
                     f"it takes {flags(EVALUATION_SETTINGS)} (and --config, --device)")
    return args


def load_training_set(args):
    if args.imbalance == "regular":
        return Cifar(args.data_dir, train=True)
    return IMBALANCECIFAR10(args.data_dir, imb_type=args.imb_type, imb_factor=args.imb_factor)


def build_model(args, device):
    """The configured model on `device`; for the sigmoid focal loss its output bias starts at the class prior,
    as the paper does."""
    model = MODEL_BUILDERS[args.model]()
    if args.loss_type == "SigmoidFocal":
        output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]  # every model ends in one
        if output_layer.bias is None:
            raise config.ConfigError(f"loss_type SigmoidFocal needs an output layer with a bias for its prior "
                                     f"initialisation; {args.model} has none, use CE or Focal")
        init_prior_bias(output_layer)
    return model.to(device, memory_format=memory_format(args.channels_last))


def stem_images(train_set, device, layout):
    """The first STEM_IMAGES training images, normalised, on `device`: what a whitened stem is fitted to."""
    images = torch.from_numpy(np.ascontiguousarray(train_set.data[:STEM_IMAGES])).permute(0, 3, 1, 2)
    return normalise(images.to(device), layout)


def build_criterion(args, cls_num_list, weighted=True):
    """The configured loss (without its class weights if not `weighted`). Equal class weights (a balanced training
    set) are no weights: the same loss, without a weighted mean's rounding."""
    weighted = weighted and args.reweight and len(set(cls_num_list)) > 1
    if weighted and min(cls_num_list) < 1:  # before any file of the run is touched
        empty = ", ".join(name for name, count in zip(CLASS_NAMES, cls_num_list) if count < 1)
        raise DataError(f"{args.data_dir}: the training set has no image of {empty}, and class-balanced weights "
                        f"need every class; train on data that holds them all, or with --reweight false")
    weight = reweight(cls_num_list, args.beta) if weighted else None
    smoothing = {"label_smoothing": args.label_smoothing} if args.label_smoothing else {}  # CE only (config.py)
    return LOSS_BUILDERS[args.loss_type](weight, args.gamma, **smoothing)


def distributed_and_compiled(model, args, device):
    """(what training calls, what testing calls, the model itself). Under torchrun training calls DDP, which
    testing must not (its forward waits for every rank); with `compile` both call compiled forms."""
    if distributed.world_size() == 1:
        model = compiled(model, args.compile)
        return model, model, getattr(model, "_orig_mod", model)
    wrapped = distributed.wrap(model, device)
    model = wrapped.module  # SyncBatchNorm may have replaced layers: these are the weights to save
    return compiled(wrapped, args.compile), compiled(model, args.compile), model


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
    if not fitting:  # naming a model would not help
        raise checkpointing.CheckpointError(f"checkpoint {path} fits none of the kit's models "
                                            f"({', '.join(MODEL_BUILDERS)}): its weights come from another network")
    if len(fitting) > 1:
        raise checkpointing.CheckpointError(f"checkpoint {path} fits {' and '.join(fitting)}; "
                                            f"name the model with --model")
    return fitting[0]


def with_bar(progress, batches, description, device, run_pass):
    """run_pass(on_batch), with a progress bar as on_batch when `progress` and the output is a terminal."""
    bar = batch_bar(len(batches), description, device) if progress else None
    try:
        return run_pass(bar)
    finally:
        if bar:
            bar.close()


def confusion_on_test_set(model, batches, args, device, progress=False):
    """The confusion matrix of `model` on the test `batches`."""
    return with_bar(progress, batches, "test", device,
                    lambda bar: validate(model, batches, len(CLASS_NAMES), args.amp, on_batch=bar))


def amp_for_all_ranks(device):
    """amp: auto resolved: bf16 autocast when it is faster on this device (on every rank, under torchrun)."""
    faster = torch.tensor([float(bf16_is_faster(device))], device=device)
    return distributed.sum_across_ranks(faster).item() == distributed.world_size()


def evaluate(args, device):
    if args.amp == "auto":  # a checkpoint's accuracy is quoted in fp32, and bf16 may flip a few close predictions
        args.amp = False
    state = checkpointing.read_weights(args.evaluate)
    model_name = args.model or model_of_checkpoint(state, args.evaluate)
    layout = memory_format(args.channels_last)
    test_batches = DeviceBatches(Cifar(args.data_dir, train=False), max(args.batch_size or 0, TEST_BATCH), device,
                                 train=False, memory_format=layout)
    model = MODEL_BUILDERS[model_name]()
    checkpointing.load_into(model, state, model_name, args.evaluate)
    confusion = confusion_on_test_set(model.to(device, memory_format=layout), test_batches, args, device, progress=True)
    autocast_note = " in bf16 autocast" if args.amp else ""
    print(f"{args.evaluate} ({model_name}) on {len(test_batches.labels)} test images{autocast_note}: "
          f"Prec@1 {accuracy(confusion):.4f}")
    print(format_per_class(CLASS_NAMES, per_class_accuracy(confusion)))
    if not checkpointing.all_finite(state):
        print("note: some of these weights are not finite numbers (a diverged run's): the accuracy means nothing")


@dataclasses.dataclass
class Training:
    """What a run trains and tests with (build_training)."""
    train_set: torch.utils.data.Dataset  # Cifar or IMBALANCECIFAR10
    test_set: Cifar
    train_batches: DeviceBatches
    test_batches: DeviceBatches
    generator: torch.Generator  # the shuffling and augmentation; saved in last.pth
    cls_num_list: list
    model: torch.nn.Module  # the weights that are saved
    train_model: torch.nn.Module  # what training calls: the model, or its DDP and compiled forms
    test_model: torch.nn.Module  # what testing calls: the model, or its compiled form
    criterion: torch.nn.Module  # the configured loss, class-weighted from epoch reweight_from when it reweights
    unweighted_criterion: torch.nn.Module  # the same loss without class weights, for the epochs before
    optimizer: torch.optim.Optimizer
    averaging: Lookahead | None
    layout: torch.memory_format


def build_training(args, device):
    """The data, model, losses and optimiser of a run, as configured, seeded by args.seed."""
    torch.manual_seed(args.seed)
    layout = memory_format(args.channels_last)
    train_set, test_set = load_training_set(args), Cifar(args.data_dir, train=False)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    train_batches = DeviceBatches(train_set, args.batch_size, device, train=True, generator=generator,
                                  crop_padding=args.crop_padding, memory_format=layout, flips=args.flips)
    test_batches = DeviceBatches(test_set, max(args.batch_size, TEST_BATCH), device, train=False,
                                 memory_format=layout)
    cls_num_list = torch.bincount(train_batches.labels.cpu(), minlength=len(CLASS_NAMES)).tolist()

    model = build_model(args, device)
    if getattr(model, "whitened_stem", False):  # MyModel-GPU: the stem's filters come from the data
        model.fit_stem(stem_images(train_set, device, layout))
    criterion = build_criterion(args, cls_num_list).to(device)
    unweighted_criterion = build_criterion(args, cls_num_list, weighted=False).to(device)
    train_model, test_model, model = distributed_and_compiled(model, args, device)
    optimizer = sgd(model.parameters(), args.learning_rate, args.momentum, args.reg, args.nesterov)
    averaging = Lookahead(optimizer, len(train_batches), args.epochs) if args.lookahead else None
    return Training(train_set, test_set, train_batches, test_batches, generator, cls_num_list, model, train_model,
                    test_model, criterion, unweighted_criterion, optimizer, averaging, layout)


def restore_resumed(args, training, run, echo):
    """The state --resume goes on from, put back into the model, optimiser and random streams; amp: auto takes
    the decision the run made when it started."""
    state = resumed_state(args, run.folder)
    checkpointing.restore_run_state(state, run.last_path, training.model, args.model, training.optimizer,
                                    training.generator)
    echo(f"resuming {run.folder} after epoch {state['epoch']}")
    if args.amp == "auto":
        args.amp = state["settings"].get("amp", False)
    return state


def decide_amp(args, device, echo):
    """amp: auto becomes bf16 autocast or not, once, as a run starts: on where it is faster here."""
    if args.amp == "auto":
        args.amp = amp_for_all_ranks(device)
        echo(f"amp auto: bf16 autocast {'on' if args.amp else 'off'} (it was {'' if args.amp else 'not '}faster here)")


def confusion_of_weights(state_dict, args, training, device):
    """The test confusion matrix of a fresh model of the run's kind holding `state_dict`."""
    model = MODEL_BUILDERS[args.model]()
    model.load_state_dict(state_dict)
    model = model.to(device, memory_format=training.layout)
    return confusion_on_test_set(model, training.test_batches, args, device)


def open_graded_checkpoint(args, training, run, device, echo):
    """checkpoints/<model>.pth as a GradedCheckpoint, the weights there scored on this run's test set."""
    def score(state_dict):
        return accuracy(confusion_of_weights(state_dict, args, training, device))
    return graded_checkpoint(args, score, echo, run, training.test_set.targets,
                             can_rescore=distributed.world_size() == 1)  # ranks test together: not rank 0 alone


def prepare_run_folder(args, run, state, echo):
    """Set an earlier run of the folder aside (unless this one resumes it), then write the resolved config and
    the rows so far."""
    if not state and (moved := run.set_aside()):
        echo(f"{run.folder} held an earlier run: moved to {moved}")
    run.start(config.as_sections(vars(args)), f"resolved by main.py; run with --seed {args.seed}",
              state["rows"] if state else ())


def describe_run(args, training, run, device):
    ranks = f" x {distributed.world_size()} ranks" if distributed.world_size() > 1 else ""
    return (f"{run.folder}: {args.model} ({sum(p.numel() for p in training.model.parameters()):,} parameters) on "
            f"{device}{ranks}, seed {args.seed}; {len(training.train_set)} training images ({args.imbalance}, per "
            f"class {training.cls_num_list}), {len(training.test_set)} test images")


def start_run(args, training, run, device, echo, writes):
    """Read what the run goes on from (a resume) and score the graded checkpoint before the run changes anything on
    disk (at most checkpoints/ is made, to see that it takes a file), so that a failure or Ctrl-C there leaves every
    folder as it was; then set an earlier run aside and write the
    run's config. Returns (the resumed state or None, the GradedCheckpoint or None)."""
    if writes and args.save_best:
        check_writable(graded_path(args))
    state = restore_resumed(args, training, run, echo) if args.resume else None
    decide_amp(args, device, echo)
    graded = open_graded_checkpoint(args, training, run, device, echo) if args.save_best else None
    if writes:
        prepare_run_folder(args, run, state, echo)
    echo(describe_run(args, training, run, device))
    for note in config.notes(vars(args)):
        echo(f"note: {note}")
    return state, graded


def train_epoch(epoch, args, training, run, device, progress):
    """Train one epoch and test when it is due; returns its metrics row (epoch, lr, loss, accuracies, seconds)
    and the test confusion matrix (None when not tested). Diverged, with nothing saved, when the loss or the
    weights stop being finite."""
    started = time.perf_counter()
    rate, rate_at_batch = epoch_schedule(args, epoch, len(training.train_batches))
    set_learning_rate(training.optimizer, rate)
    training.train_batches.set_epoch(epoch)
    averaging = training.averaging
    criterion = training.criterion if epoch >= args.reweight_from else training.unweighted_criterion
    train_loss, train_accuracy = with_bar(
        progress, training.train_batches, f"epoch {epoch}", device,
        lambda bar: train(training.train_model, training.train_batches, criterion, training.optimizer, rate_at_batch,
                          args.amp, bar, averaging and averaging.after_step(epoch)))
    if averaging and epoch == args.epochs:
        averaging.finish()
    check_finite(train_loss, checkpointing.all_finite(training.model.state_dict()), run, epoch, args)
    test_due = epoch % args.test_every == 0 or epoch == args.epochs
    confusion = (confusion_on_test_set(training.test_model, training.test_batches, args, device, progress)
                 if test_due else None)
    row = dict(epoch=epoch, lr=rate, train_loss=train_loss, train_acc=train_accuracy,
               test_acc=accuracy(confusion) if test_due else math.nan, seconds=time.perf_counter() - started)
    return row, confusion


def nothing_to_train(run, args, training, device, best, graded, writes, echo):
    """A resume of a run that has finished all its epochs: say so, test its best weights again (--resume may name
    other test data than the run had) and offer them to checkpoints/ again (the end of the run may have failed to
    write them). Returns the best, with this test's accuracy and confusion matrix."""
    echo(f"{run.folder} has finished all {args.epochs} epochs; nothing to train (raise --epochs to go on)")
    if best is None:
        raise config.ConfigError(f"{run.folder} stopped after epoch {args.epochs}, before any test; "
                                 f"resume it with --epochs above {args.epochs}")
    confusion = confusion_of_weights(best["model"], args, training, device)  # every rank: the test sums across them
    best = dict(best, accuracy=accuracy(confusion), confusion=confusion)
    if writes and graded:
        graded.offer(best["model"], best["accuracy"])
    return best


def save_epoch(run, args, training, row, per_class, confusion, best, improved, graded):
    """best.pth and checkpoints/ (when the epoch improved), last.pth, then metrics.csv (a resume rewrites it from
    last.pth). A Ctrl-C among them waits: the run stops with this epoch whole."""
    with files.interrupts_held():
        if improved:
            checkpointing.save_atomically(best["model"], run.best_path)
            if graded:
                graded.offer(best["model"], best["accuracy"])
        run.add(row, per_class)
        checkpointing.save_run_state(run.last_path, run_settings(args), run.rows, confusion, training.model,
                                     training.optimizer, best, training.generator)
        run.write_metrics()


def draw_figures(run, args, best):
    """The learning curves and the best epoch's confusion matrix, in the run folder (Ctrl-C waits for them)."""
    with interrupted_as(run, "as its figures were drawn", args), files.interrupts_held():
        run.plot_learning_curves(f"{run.folder}: {args.model}")
        run.save_confusion(best["confusion"], f"{run.folder}: {args.model}, epoch {best['epoch']}, "
                                              f"accuracy {best['accuracy']:.4f}")


def fit(args, device, run_name=None, echo=print, progress=False):
    """Train as configured; returns {"final": ..., "best": ...} (confusion matrices of the test set) and "model"
    (the trained model). The run folder is runs/<run_name> (default: the config's file name); echo receives every
    console line; `progress` shows a bar over each pass at a terminal. Only rank 0 prints and writes files."""
    writes = distributed.is_main()
    if not writes:
        echo, progress = (lambda line: None), False
    folder = os.path.join("runs", run_name or default_run_name(args.config))
    training = build_training(args, device)
    run = RunLog(folder, CLASS_NAMES)
    with run if writes else contextlib.nullcontext():
        with interrupted_as(run, "as the run started", args):
            state, graded = start_run(args, training, run, device, echo, writes)
            best, confusion = (state["best"], state["confusion"]) if state else (None, None)
            first_epoch = state["epoch"] + 1 if state else 1
            if first_epoch > args.epochs:
                best = nothing_to_train(run, args, training, device, best, graded, writes, echo)
            else:
                echo(format_header())
        epoch = first_epoch
        try:
            for epoch in range(first_epoch, args.epochs + 1):
                row, epoch_confusion = train_epoch(epoch, args, training, run, device, progress)
                tested = epoch_confusion is not None
                confusion = epoch_confusion if tested else confusion
                per_class = per_class_accuracy(epoch_confusion) if tested else [math.nan] * len(CLASS_NAMES)
                improved = tested and (best is None or row["test_acc"] > best["accuracy"])
                if improved:
                    best = dict(accuracy=row["test_acc"], epoch=epoch, confusion=epoch_confusion,
                                model=checkpointing.cpu_state_dict(training.model))
                if writes:
                    save_epoch(run, args, training, row, per_class, confusion, best, improved, graded)
                echo(format_row(row, per_class))
            if writes:  # after the last epoch, or again when a resume finds nothing to train (they may have failed)
                draw_figures(run, args, best)
        except KeyboardInterrupt as stop:
            raise interruption(run, f"in epoch {epoch}", args, stop) from None
        except OSError as error:  # a disk that failed mid-run: the epochs in last.pth go on once it is fixed
            if writes and os.path.exists(run.last_path):
                error.resume_command = resume_command(args)
            raise
    echo(f"Best Prec@1 {best['accuracy']:.4f} at epoch {best['epoch']}; per-class accuracy:")
    echo(format_per_class(CLASS_NAMES, per_class_accuracy(best["confusion"])))
    echo(checkpoint_note(graded, best, run))
    return {"final": confusion, "best": best["confusion"], "model": training.model}


def main(argv=None):
    options = vars(parse_arguments(argv))
    path, overrides = options.pop("config"), options.pop("overrides")
    try:
        check_working_folder([path] if path else [])
        args = config.run_arguments(path, overrides, **options)
        check_working_folder([args.data_dir])
        if args.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # few shapes, each met often: let cuDNN pick
        check_ranks(args)
        if args.evaluate:
            evaluate(args, args.device)
        else:
            fit(args, distributed.start(args.device), args.name, lambda line: print(line, flush=True), progress=True)
    except (config.ConfigError, checkpointing.CheckpointError, DataError, RunBusy, FileNotFoundError) as error:
        print(cli.error_line("main.py", error), file=sys.stderr)
        return 2
    except RuntimeError as error:
        if compile_failure(error) is None:
            raise
        print(cli.error_line("main.py", f"{compile_failure(error)}; train with --compile none"), file=sys.stderr)
        return 2
    except OSError as error:  # a full or read-only disk, a folder where a file should be
        if cli.console_failed(error):
            raise  # see cli.quiet_when_the_pipe_closes
        resume = getattr(error, "resume_command", None)
        then = f"continue with {resume}" if resume else "run again"
        print(cli.error_line("main.py", files.os_error_line(error, then)), file=sys.stderr)
        return 2
    except Diverged as error:
        print(cli.error_line("main.py", error), file=sys.stderr)
        return 1
    except Interrupted as error:
        print(f"\n{error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt as stop:
        when = ("" if options["evaluate"] else " before the run went on; its folder is as it was"
                if options["resume"] else " before the first epoch; there is nothing to resume")
        how, status = files.how_stopped(stop)
        print(f"\n{how}{when}", file=sys.stderr)
        return status
    finally:
        distributed.stop()
    return 0


if __name__ == "__main__":
    # a scheduler ending the job stops it as Ctrl-C does; torchrun's ranks keep SIGTERM's default (peers may be gone)
    with contextlib.nullcontext() if distributed.launched_by_torchrun() else files.sigterm_as_interrupt():
        status = cli.quiet_when_the_pipe_closes(main)
    distributed.end_process(status)
