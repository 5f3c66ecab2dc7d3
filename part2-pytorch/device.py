"""The device a run trains on (the best available unless the command line names one), and how the model runs
there: its memory layout, bf16 autocast or not (amp: auto measures it) and torch.compile mode."""
import sys
import time

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


def float64_device(device):
    """Where float64 arithmetic for work on `device` runs: on the device itself, except MPS, which has no float64
    (its sums in float64 go to the CPU)."""
    device = torch.device(device)
    return torch.device("cpu") if device.type == "mps" else device


def memory_format(channels_last):
    """The layout of the model's tensors and of the batches: NHWC (channels-last) or PyTorch's default NCHW."""
    return torch.channels_last if channels_last else torch.contiguous_format


def synchronise(device):
    """Wait for the work queued on `device` (CUDA and MPS run it asynchronously), so that a timer sees it done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def compiled(model, mode):
    """torch.compile(model) in one of config.COMPILE_MODES ("default" is torch's default mode; "none": as is)."""
    if mode == "none":
        return model
    return torch.compile(model, mode=None if mode == "default" else mode)


def compile_failure(error):
    """One line for an error of torch.compile that cannot compile here (no C++ compiler, say), raised at the
    first call that compiles; None for any other error. Looked up, not imported: torch._dynamo takes 1 s to load."""
    dynamo_errors = sys.modules.get("torch._dynamo.exc")
    if dynamo_errors is None or not isinstance(error, dynamo_errors.BackendCompilerFailed):
        return None
    return f"torch.compile cannot compile here ({str(error).strip().splitlines()[0][:200]})"


def bf16_is_faster(device):
    """Whether bf16 autocast speeds up training on `device`. CUDA: where the GPU has bf16 arithmetic. CPU: timed,
    a 3x3 convolution's forward and backward at ResNet-32's widths, fp32 against bf16 (a CPU with bf16 matrix
    units runs it about twice as fast, one without emulates it many times slower); MPS: no."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    generator = torch.Generator().manual_seed(0)  # its own: the run's random stream stays untouched
    weight = (0.1 * torch.randn(32, 32, 3, 3, generator=generator)).to(memory_format=torch.channels_last)
    images = torch.randn(128, 32, 16, 16, generator=generator).to(memory_format=torch.channels_last)
    weight.requires_grad_()
    times = {False: [], True: []}
    for bf16 in [False, True] * 6:  # interleaved, so that a busy moment of the machine hits both kinds alike
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = torch.nn.functional.conv2d(images, weight, padding=1)
        output.float().sum().backward()
        times[bf16].append(time.perf_counter() - started)
    # each kind's first run picks kernels; a 20% margin keeps timing noise from switching bf16 on
    return min(times[True][1:]) < 0.8 * min(times[False][1:])
