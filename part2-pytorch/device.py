"""The device a run trains on: the best available unless the command line names one."""
import torch


def available_devices():
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def choose_device(requested="auto"):
    """'auto' picks cuda, then mps, then cpu; anything else must be one of available_devices()."""
    if requested == "auto":
        requested = next(name for name in ("cuda", "mps", "cpu") if name in available_devices())
    if requested not in available_devices():
        raise ValueError(f"device {requested!r} is not available here; choose auto or one of "
                         + ", ".join(available_devices()))
    return torch.device(requested)
