"""Checkpoint files, always written atomically (files.py), so a crash never leaves half a file.

checkpoints/<model>.pth holds the best weights as a plain CPU state_dict, the file graders load. A run's
last.pth is its resume point: the settings, epoch, model, optimiser, the rows so far, the best result and the
random-number states, all of the same epoch. Everything is read with weights_only=True: a checkpoint cannot run
code.
"""
import errno
import math
import os
import re
import warnings

import torch

import files
from data.dataset_cifar import CLASS_NAMES
from models import MODEL_BUILDERS

RUN_STATE_KEYS = {"settings", "epoch", "rows", "confusion", "model", "optimizer", "best", "rng"}
# an epoch's row, as runlog.RunLog keeps it: main.py's numbers and the per-class test accuracies
ROW_KEYS = {"epoch", "lr", "train_loss", "train_acc", "test_acc", "seconds", *(f"acc_{name}" for name in CLASS_NAMES)}


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the model; the message is one line."""


def _disk_error(error, reading=False):
    """The OSError of the disk behind an error of torch.save or torch.load (which reports a failed read or write
    as a RuntimeError of its own), or None when the file, not the disk, is the problem."""
    cause = error if isinstance(error, OSError) else error.__context__
    # reading, EINVAL is a seek before the start, as torch's zip reader makes in a file cut short under 64 KB
    cut_short = reading and isinstance(cause, OSError) and cause.errno == errno.EINVAL
    return cause if isinstance(cause, OSError) and cause.errno and not cut_short else None


def save_atomically(obj, path):
    def save(f):
        try:
            torch.save(obj, f)
        except RuntimeError as error:  # a full disk: say so, as files.py does for its own writes
            if _disk_error(error) is None:
                raise
            raise _disk_error(error) from None
    files.write_atomically(path, save)


def cpu_state_dict(model):
    """A copy of the model's state_dict on the CPU (a copy: training goes on changing the model)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


def all_finite(state_dict):
    return all(torch.isfinite(tensor).all() for tensor in state_dict.values() if tensor.is_floating_point())


def _why_unreadable(error):
    """Why torch.load refused a file, in a line, without torch's advice to load it with weights_only=False."""
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    if refused:
        return (f"it holds a {refused.group(1)} object, and checkpoints are read with weights_only=True so that "
                f"no file runs code; save tensors only, e.g. torch.save(model.state_dict(), path)")
    return f"not a file written by torch.save, or a damaged one ({type(error).__name__}); train again or copy it anew"


def _read(path):
    if os.path.exists(path) and not os.path.isfile(path):  # torch.load needs a file it can seek: no folder, and
        what = "a folder" if os.path.isdir(path) else "not a regular file (a pipe or a device)"  # a pipe would wait
        raise CheckpointError(f"checkpoint {path} is {what}; give the path of a .pth file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on the way to refusing a file
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as error:  # torch.load raises many kinds: unpickling, zip, weights-only refusals
        cause = _disk_error(error, reading=True)
        if cause is not None:  # the disk failed, not the file: it may well be whole
            raise OSError(cause.errno, cause.strerror, path) from None
        raise CheckpointError(f"cannot read checkpoint {path}: {_why_unreadable(error)}") from None


def _shapes(state_dict):
    return {name: tuple(tensor.shape) for name, tensor in state_dict.items()}


def models_fitting(state_dict):
    """Names of the known models whose parameters and buffers match `state_dict`'s names and shapes."""
    fitting = []
    for name, build in MODEL_BUILDERS.items():
        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            if _shapes(build().state_dict()) == _shapes(state_dict):
                fitting.append(name)
    return fitting


def _state_dict_in(state, path):
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a run's last.pth
    if not (isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise CheckpointError(f"{path} holds no state_dict")
    odd = next((name for name, tensor in state.items() if _not_weights(tensor)), None)
    if odd is not None:
        raise CheckpointError(f"{path} holds {odd} as a {_kind(state[odd])} tensor, not as weights; save "
                              f"model.state_dict() of a trained model")
    return state


def _not_weights(tensor):
    """Tensors weights_only lets through that load_state_dict, or the optimiser, cannot take as weights."""
    return (tensor.layout != torch.strided or tensor.is_meta or tensor.is_complex() or tensor.is_quantized
            or tensor.is_nested)


def _kind(tensor):
    if tensor.is_nested:
        return "nested"
    return f"{'quantized ' if tensor.is_quantized else ''}{tensor.layout}, {tensor.device.type} {tensor.dtype}"


def read_weights(path):
    """The state_dict in `path` (a plain state_dict, or a run's last.pth)."""
    return _state_dict_in(_read(path), path)


def load_into(model, state, model_name, path):
    if _shapes(state) != _shapes(model.state_dict()):
        fitting = models_fitting(state)
        fits = f"it fits {' or '.join(fitting)}" if fitting else "it fits none of " + ", ".join(MODEL_BUILDERS)
        raise CheckpointError(f"checkpoint {path} does not fit model {model_name}; {fits}")
    model.load_state_dict(state)


def load_weights(model, path, model_name):
    """Load the weights in `path` (a state_dict, or a run's last.pth) into `model`, which is a `model_name`."""
    load_into(model, read_weights(path), model_name, path)


def save_run_state(path, settings, rows, confusion, model, optimizer, best, generator):
    """Everything needed to continue after the last of `rows` (whose test confusion matrix is `confusion`) as
    if the run had never stopped."""
    save_atomically({
        "settings": settings,
        "epoch": rows[-1]["epoch"],
        "rows": rows,
        "confusion": confusion,
        "model": cpu_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "best": best,
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "batches": generator.get_state()},
    }, path)


def read_run_state(path):
    """A run's last.pth as save_run_state wrote it, checked for the keys a resume reads."""
    state = _read(path)
    if not (isinstance(state, dict) and RUN_STATE_KEYS <= set(state) and isinstance(state["settings"], dict)):
        raise CheckpointError(f"{path} is not a run state written by this main.py (it lacks the settings, epoch, "
                              f"optimiser or random states); start the run afresh without --resume")
    if not _well_formed(state):
        raise CheckpointError(f"{path} is damaged: its epoch, rows and best epoch do not agree, hold other than "
                              f"numbers, or its best weights do not fit the run's model; start the run afresh "
                              f"without --resume")
    return state


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _row_ok(row, epoch):
    return isinstance(row, dict) and row.get("epoch") == epoch and set(row) == ROW_KEYS and all(
        _number(value) for value in row.values())


def _confusion_ok(confusion):
    return (isinstance(confusion, torch.Tensor) and not _not_weights(confusion)
            and tuple(confusion.shape) == (len(CLASS_NAMES), len(CLASS_NAMES)))


def _weights_like(weights, model):
    """Whether `weights` are finite tensors of the names and shapes of the run's `model` weights."""
    return (isinstance(weights, dict) and isinstance(model, dict) and weights
            and all(isinstance(t, torch.Tensor) and not _not_weights(t) for t in (*weights.values(), *model.values()))
            and _shapes(weights) == _shapes(model) and all_finite(weights))


def _best_ok(best, last_epoch, model):
    """The best epoch so far (None before the first test), with its accuracy, confusion matrix and weights (which
    go to checkpoints/: finite, and of the run's model)."""
    return best is None or (isinstance(best, dict) and {"accuracy", "epoch", "confusion", "model"} <= set(best)
                            and _number(best["accuracy"]) and type(best["epoch"]) is int
                            and 1 <= best["epoch"] <= last_epoch and _confusion_ok(best["confusion"])
                            and _weights_like(best["model"], model))


def _well_formed(state):
    """A positive epoch count, a row of numbers for each epoch in order, a well-formed best epoch, and the
    confusion matrix, optimiser and random states of the kinds save_run_state writes."""
    epoch, rows = state["epoch"], state["rows"]
    return (type(epoch) is int and epoch >= 1 and isinstance(rows, list) and len(rows) == epoch
            and all(_row_ok(row, number) for number, row in enumerate(rows, 1))
            and _best_ok(state["best"], epoch, state["model"])
            and (state["confusion"] is None or _confusion_ok(state["confusion"]))
            and isinstance(state["optimizer"], dict) and isinstance(state["rng"], dict))


def _optimizer_state_fits(saved, optimizer):
    """Whether each saved momentum buffer is None or a plain float tensor of its parameter's shape (a wrong one
    can crash the fused SGD kernel outright, not raise)."""
    params = [param for group in optimizer.param_groups for param in group["params"]]
    per_param = saved.get("state")
    if not isinstance(per_param, dict):
        return False
    for index, entry in per_param.items():
        if not (type(index) is int and 0 <= index < len(params) and isinstance(entry, dict)):
            return False
        buffer = entry.get("momentum_buffer")
        if buffer is not None and not (isinstance(buffer, torch.Tensor) and not _not_weights(buffer)
                                       and buffer.is_floating_point() and buffer.shape == params[index].shape):
            return False
    return True


def restore_run_state(state, path, model, model_name, optimizer, generator):
    """Put model, optimiser and random streams back as save_run_state left them."""
    load_into(model, _state_dict_in(state, path), model_name, path)
    kernels = [group.get("fused") for group in optimizer.param_groups]  # this machine's choice, not the saver's
    if not _optimizer_state_fits(state["optimizer"], optimizer):
        raise CheckpointError(f"{path} holds a damaged optimiser state (momentum that does not fit the model); "
                              f"start the run afresh without --resume")
    try:
        optimizer.load_state_dict(state["optimizer"])
        for group, fused in zip(optimizer.param_groups, kernels):
            group["fused"] = fused
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        generator.set_state(state["rng"]["batches"])
    except RuntimeError:
        raise CheckpointError(f"{path} holds an optimiser or random state this machine cannot take (saved on "
                              f"another kind of device, or damaged); resume it where it was saved, or start the "
                              f"run afresh without --resume") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise CheckpointError(f"{path} holds a damaged optimiser or random state ({error}); start the run "
                              f"afresh without --resume") from None


class GradedCheckpoint:
    """checkpoints/<model>.pth, which graders load: replaced only by weights that score better on the test set
    than the file there did, unless `overwrite` (the kit's behaviour: each run writes its best).

    `score(state_dict)` returns a test accuracy; the file's score is measured when this is built, and again
    before a replacement if another process changed the file meanwhile (unless `can_rescore` is false, as for
    one rank of several, whose test the others would have to join: the other process's file is then kept).
    """

    def __init__(self, path, model_name, score, overwrite=False, kept_because=None, can_rescore=True):
        """`kept_because`: why a file there is not to be replaced (unless `overwrite`) whatever this run scores."""
        self.path, self.model_name, self.score, self.overwrite = path, model_name, score, overwrite
        self.kept_because, self.can_rescore = kept_because, can_rescore
        self.lock = files.FileLock(path + ".lock")
        self.saved = None  # accuracy of what this run wrote
        self.not_finite = False  # the file there holds NaN or inf: a diverged run's, scored below any other
        with self.lock:
            files.remove_leftovers(path)
            self.baseline, self.problem = self._measure()

    def _measure(self):
        """(accuracy of the file there: -inf when there is none, problem: why it is not scored, or None)."""
        self._seen = self._stat()
        if self._seen is None:
            return -math.inf, None
        if self.kept_because:
            return math.inf, self.kept_because
        try:
            state = read_weights(self.path)
            if self.model_name not in models_fitting(state):
                raise CheckpointError(f"{self.path} does not fit model {self.model_name}")
        except CheckpointError as error:
            return math.inf, str(error)  # kept: nothing proves the run's weights are better than it
        self.not_finite = not all_finite(state)  # NaN weights predict one class: they would score 0.1 on CIFAR-10
        return (-math.inf if self.not_finite else self.score(state)), None

    def _stat(self):
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        # each replacement is a new file (inode) too: two saves of one model share a size, and on a coarse clock
        # (FAT, some network shares) a modification time
        return status.st_size, status.st_mtime_ns, status.st_ino, status.st_ctime_ns

    def offer(self, state_dict, accuracy):
        """Write `state_dict` (whose test accuracy is `accuracy`) if the rule allows; returns whether it did."""
        if not (self.overwrite or accuracy > self.baseline):
            return False
        with self.lock:
            if not self.overwrite and self._stat() != self._seen:  # another run replaced it since we looked
                if not self.can_rescore:
                    self.baseline, self.problem = math.inf, "another run replaced it during this one"
                    return False
                self.baseline, self.problem = self._measure()
                if accuracy <= self.baseline:
                    return False
            save_atomically(state_dict, self.path)
            self._seen, self.saved, self.baseline = self._stat(), accuracy, max(self.baseline, accuracy)
        return True
