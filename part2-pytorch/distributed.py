"""One run over several processes started by torchrun: DistributedDataParallel, NCCL on GPUs, gloo on the CPU.

    torchrun --nproc_per_node=N main.py --config configs/<name>.yaml

Every rank draws the same shuffling and augmentation numbers for the whole global batch (Train.batch_size) and
trains on its own slice of it; DDP averages the gradients, so N ranks compute what one process would on the same
global batch (up to floating-point summation order; BatchNorm statistics are per rank unless synchronised).
Metrics are summed across ranks; only rank 0 prints and writes files. In a single process every function here
is a no-op, so the training code has one path.
"""
import os
import sys

import torch
import torch.distributed as dist


def launched_world_size():
    """The number of processes torchrun started for this run (1 without torchrun); known before start()."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_by_torchrun():
    return launched_world_size() > 1


def initialized():
    """Whether this process is one rank of several (False too on a PyTorch built without torch.distributed)."""
    return dist.is_available() and dist.is_initialized()


def backend(device):
    """NCCL between GPUs where this build has it; gloo otherwise (CPUs, and Windows, whose PyTorch has no NCCL)."""
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def start(device):
    """Join the process group when launched by torchrun; returns the device of this rank (cuda:LOCAL_RANK when
    training on GPUs: one GPU per rank)."""
    if not launched_by_torchrun() or initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group(backend(device))
    return device


def stop():
    if initialized():
        dist.destroy_process_group()


def end_process(status):
    """Exit with `status`. A rank started by torchrun skips the interpreter's shutdown, as multiprocessing's
    children do: gloo's worker threads may still be letting go of a finished collective's tensors, which takes
    the GIL, and during shutdown that aborts the process (a few runs in a hundred on 2 CPU cores; see
    pytorch/pytorch#179291)."""
    if not launched_by_torchrun():
        sys.exit(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)


def rank():
    return dist.get_rank() if initialized() else 0


def world_size():
    return dist.get_world_size() if initialized() else 1


def is_main():
    return rank() == 0


def shard(count, part=None, parts=None):
    """The slice of `count` items that rank `part` of `parts` takes: contiguous, sizes differing by at most one."""
    part, parts = rank() if part is None else part, world_size() if parts is None else parts
    return slice(count * part // parts, count * (part + 1) // parts)


def sum_across_ranks(tensor):
    """The elementwise sum of `tensor` over all ranks (the tensor itself in a single process)."""
    if initialized():
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor


def wrap(model, device):
    """`model` as DDP when running distributed (BatchNorm synchronised on GPUs, so the statistics are those of
    the global batch); the model itself otherwise."""
    if not initialized():
        return model
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device])
    return torch.nn.parallel.DistributedDataParallel(model)
