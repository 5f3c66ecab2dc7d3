"""How a run starts and ends without losing what was saved: resuming only the same run, the graded checkpoint,
and the one line a run prints when it diverges or is interrupted."""
import contextlib
import errno
import hashlib
import math
import os
import shlex
import subprocess
import sys

import numpy as np

import checkpointing
import config
import files

KIT_CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
CIFAR10_TEST_IMAGES = 10000
# the digest of the test batch's first 1,000 labels (uint8), which every copy of CIFAR-10 holds in the original
# order (a reconstruction may rebuild the order of the rest): it tells CIFAR-10's test set from other data
CIFAR10_FIRST_TEST_LABELS_SHA256 = "636a087e604331a0b9dafc94b6e9ade0c9cec72c4400d12473ccdb3e264474c1"


class Diverged(Exception):
    """The training loss or the weights stopped being finite numbers."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a run; the message says what the run folder holds, status is the exit status."""

    def __init__(self, message, status=130):
        super().__init__(message)
        self.status = status


def run_settings(args):
    """What the run's weights depend on, as saved in last.pth and compared on --resume."""
    return dict({key: getattr(args, key) for key in config.SETTINGS}, seed=args.seed)


def resumed_state(args, folder):
    """The run state in folder/last.pth, after checking that this command continues that same run."""
    last_path = os.path.join(folder, "last.pth")
    if not os.path.exists(last_path):
        raise checkpointing.CheckpointError(f"{last_path} does not exist: {folder} has no finished epoch to resume; "
                                            f"start the run without --resume")
    state = checkpointing.read_run_state(last_path)
    saved, current = state["settings"], run_settings(args)
    if args.amp == "auto":  # decided when the run started: going on with that decision is the same run
        current["amp"] = saved.get("amp", False)
    conflicts = config.resume_conflicts(saved, current)
    if conflicts:
        then = ", ".join(f"{key} {config.shown(saved.get(key))}" for key in conflicts)
        now = ", ".join(f"{key} {config.shown(current[key])}" for key in conflicts)
        raise config.ConfigError(f"--resume: {folder} was trained with {then}, this command asks for {now}; "
                                 f"resume with the run's settings, or start a new run (--name NEW)")
    if args.epochs < state["epoch"]:
        raise config.ConfigError(f"--resume: {folder} has finished {state['epoch']} epochs, more than "
                                 f"Train.epochs = {args.epochs}")
    return state


def resumable_state(args, folder):
    """The run state in `folder`'s last.pth if this same run can go on from it (resumed_state's checks): what a
    grid run cut short continues from. None for no file, a damaged one or other settings (a fresh start sets
    the folder aside)."""
    try:
        return resumed_state(args, folder)
    except (checkpointing.CheckpointError, config.ConfigError):
        return None


def is_cifar10_test_set(labels):
    """Whether `labels`, a test set's labels in file order, are CIFAR-10's test batch's."""
    labels = np.asarray(labels)
    first = hashlib.sha256(labels[:1000].astype(np.uint8).tobytes()).hexdigest()
    return len(labels) == CIFAR10_TEST_IMAGES and first == CIFAR10_FIRST_TEST_LABELS_SHA256


def graded_checkpoint(args, score, echo, run, test_labels, can_rescore=True):
    """checkpoints/<model>.pth, guarded so that this run replaces it only with better weights; `score(state_dict)`
    is the test accuracy of some weights on the run's test set, whose labels are `test_labels`. The kit's own
    checkpoints are graded on CIFAR-10's test set: a run tested on other data (a test's tiny folder, another
    10-class set of 10,000 images) keeps them."""
    path = graded_path(args)
    other_data = (os.path.normcase(os.path.abspath("checkpoints")) == os.path.normcase(KIT_CHECKPOINTS)
                  and not is_cifar10_test_set(test_labels))
    why = (f"the kit's checkpoints are graded on CIFAR-10's {CIFAR10_TEST_IMAGES:,} test images, and this run tests "
           f"on {len(test_labels):,} other images, in {args.data_dir}") if other_data else None
    graded = checkpointing.GradedCheckpoint(path, args.model, score, args.overwrite_checkpoint, kept_because=why,
                                            can_rescore=can_rescore)
    if graded.problem and not args.overwrite_checkpoint:
        echo(f"{path} is kept: {graded.problem}; this run's best weights go to {run.best_path} "
             f"(--overwrite-checkpoint replaces it)")
    elif graded.not_finite:
        echo(f"{path} holds weights that are not finite numbers (a diverged run's); this run replaces it with its "
             f"best")
    elif math.isfinite(graded.baseline) and not args.overwrite_checkpoint:
        echo(f"{path} scores {graded.baseline:.4f}; this run replaces it only with better weights "
             f"(--overwrite-checkpoint: with its best, as the kit does)")
    return graded


def graded_path(args):
    return os.path.join("checkpoints", args.model.lower() + ".pth")


def check_writable(path):
    """ConfigError, before any training, when the graded checkpoint could not be written: a folder in its place,
    or a folder that takes no new file (found out otherwise only when the run first beats the file there)."""
    if os.path.isdir(path):
        raise config.ConfigError(f"{path} is a folder; move it out of the way, or train with --save-best false")
    folder = os.path.dirname(path)
    probe = f"{path}.{os.getpid()}.tmp"  # named as files.py's writes: if we are killed, the next writer clears it
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "wb"):
            pass
    except OSError as error:  # --save-best false cannot help a read-only disk: the run folder is on it too
        other_way = "" if error.errno == errno.EROFS else ", or train with --save-best false"
        raise config.ConfigError(f"cannot write in {folder}/ ({error.strerror or error}); {files.what_to_do(error)}"
                                 f"{other_way}") from None
    finally:
        with contextlib.suppress(OSError):  # Ctrl-C, or a disk that fails to delete it: not our question here
            os.remove(probe)


def checkpoint_note(graded, best, run):
    """The run's last line: where its best weights went."""
    if graded is None:
        return f"save_best is false: checkpoints/ untouched; the best weights are in {run.best_path}"
    if graded.saved is not None:
        return f"saved {graded.path} (Prec@1 {graded.saved:.4f})"
    if graded.problem:
        return (f"kept {graded.path} ({graded.problem}); this run's best, {best['accuracy']:.4f}, is in "
                f"{run.best_path} (--overwrite-checkpoint replaces the file)")
    return (f"kept {graded.path}, which scores {graded.baseline:.4f}: this run's best, {best['accuracy']:.4f}, is "
            f"not better; its weights are in {run.best_path} (--overwrite-checkpoint replaces the file)")


def check_finite(train_loss, weights_finite, run, epoch, args):
    """Raise Diverged, saying what was kept, when the epoch's loss or weights are not finite numbers."""
    if math.isfinite(train_loss) and weights_finite:
        return
    problem = f"the training loss is {train_loss:.4g}" if not math.isfinite(train_loss) else "weights are not finite"
    kept = f"{run.last_path} holds epoch {run.rows[-1]['epoch']}" if run.rows else "no epoch had finished"
    raise Diverged(f"epoch {epoch}: {problem}: the run diverged and nothing of this epoch was saved ({kept}); "
                   f"lower learning_rate (now {args.learning_rate:g}) or add warmup, and start afresh")


def interruption(run, when, args, stop):
    """Interrupted for the KeyboardInterrupt `stop` (files.Terminated for SIGTERM) that came `when` ("in epoch 3"),
    saying what the run's folder holds."""
    how, status = files.how_stopped(stop)
    if run.rows:
        last = run.rows[-1]["epoch"]
        held = f"{run.folder} holds epoch{'s 1-' if last > 1 else ' '}{last}"
    elif getattr(args, "resume", False) and os.path.exists(run.last_path):  # stopped before it read them back
        held = f"{run.folder} still holds its finished epochs"
    else:
        return Interrupted(f"{how} {when}; no epoch had finished, so there is nothing to resume", status)
    return Interrupted(f"{how} {when}; {held}: continue with {resume_command(args)}", status)


def resume_command(args):
    """The command that continues this run from its last.pth: the arguments it was given, and --resume."""
    again = sys.argv[1:] or ["--config", args.config]
    again += [] if "--resume" in again else ["--resume"]
    return f"python main.py {command_line(again)}"


@contextlib.contextmanager
def interrupted_as(run, when, args):
    """Ctrl-C or SIGTERM inside becomes Interrupted(interruption(...)), which names what `run` holds."""
    try:
        yield
    except KeyboardInterrupt as stop:
        raise interruption(run, when, args, stop) from None


def command_line(arguments):
    """`arguments` quoted for this system's shell, to be pasted back as they were given."""
    return subprocess.list2cmdline(arguments) if os.name == "nt" else shlex.join(arguments)
