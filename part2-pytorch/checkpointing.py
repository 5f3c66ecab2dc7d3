"""Checkpoint files, always written to a temporary file and renamed, so a crash never leaves half a file.

checkpoints/<model>.pth holds the best weights as a plain CPU state_dict. A run's last.pth holds what --resume
needs: epoch, model, optimiser, the best result so far and the random-number states.
"""
import os

import torch

from models import MODEL_BUILDERS


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the model; the message is one line."""


def save_atomically(obj, path):
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"  # same folder, so the rename is atomic
    try:
        with open(temporary, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def cpu_state_dict(model):
    """A copy of the model's state_dict on the CPU (a copy: training goes on changing the model)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


def _read(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as error:  # torch.load raises many kinds: unpickling, zip, weights-only refusals
        raise CheckpointError(f"cannot read checkpoint {path}: {str(error).splitlines()[0]}") from None


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


def _load_into(model, state, model_name, path):
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a run's last.pth
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no state_dict")
    if _shapes(state) != _shapes(model.state_dict()):
        fitting = models_fitting(state)
        fits = f"it fits {' or '.join(fitting)}" if fitting else "it fits none of " + ", ".join(MODEL_BUILDERS)
        raise CheckpointError(f"checkpoint {path} does not fit model {model_name}; {fits}")
    model.load_state_dict(state)


def load_weights(model, path, model_name):
    """Load the weights in `path` (a state_dict, or a run's last.pth) into `model`, which is a `model_name`."""
    _load_into(model, _read(path), model_name, path)


def save_run_state(path, epoch, model, optimizer, best, generator):
    """Everything needed to continue after `epoch` as if the run had never stopped."""
    save_atomically({
        "epoch": epoch,
        "model": cpu_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "best": best,
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "batches": generator.get_state()},
    }, path)


def restore_run_state(path, model, model_name, optimizer, generator):
    """Put a run back as save_run_state left it; returns (last finished epoch, best result so far)."""
    state = _read(path)
    _load_into(model, state, model_name, path)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    try:
        generator.set_state(state["rng"]["batches"])
    except RuntimeError:
        raise CheckpointError(f"{path} was saved by a run on another kind of device; resume it there") from None
    return state["epoch"], state["best"]
