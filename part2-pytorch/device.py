"""The device a run trains on (the best available unless the command line names one), and how the model runs
there: its memory layout and torch.compile mode."""
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


def memory_format(channels_last):
    """The layout of the model's tensors and of the batches: NHWC (channels-last) or PyTorch's default NCHW."""
    return torch.channels_last if channels_last else torch.contiguous_format


def compiled(model, mode):
    """torch.compile(model) in one of config.COMPILE_MODES ("default" is torch's default mode; "none": as is)."""
    if mode == "none":
        return model
    return torch.compile(model, mode=None if mode == "default" else mode)
