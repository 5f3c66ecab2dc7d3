"""The learning-rate schedules (the kit's step rule and a linear one), the optimiser (SGD, fused where it can be,
with Lookahead's weight averaging), one epoch of training under optional bf16 autocast, and one pass of validation."""
import contextlib

import torch

import distributed
from device import float64_device
from metrics import confusion_matrix


def learning_rate_at(epoch, base_rate, warmup, steps):
    """The rate for 1-based `epoch`: base_rate * epoch / warmup while epoch <= warmup, then base_rate,
    base_rate * 0.1 after epoch steps[0] and base_rate * 0.01 after epoch steps[1]."""
    if epoch <= warmup:
        return base_rate * epoch / warmup
    if epoch > steps[1]:
        return base_rate * 0.01
    if epoch > steps[0]:
        return base_rate * 0.1
    return base_rate


def linear_learning_rate_at(progress, base_rate, warmup, epochs):
    """The rate after `progress` epochs (fractional): a linear rise to base_rate over `warmup` epochs, then a
    linear fall to zero at `epochs`. Callers pass the middle of a batch, so no step gets a rate of exactly 0."""
    if progress < warmup:
        return base_rate * progress / warmup
    return base_rate * (epochs - progress) / (epochs - warmup)


def sgd(parameters, rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD in its fused form: one kernel per weight tensor instead of three or four passes over the
    weights, which is most of a small model's update time (REPORT.md, "Speed and scale"). Where the device or
    the installed torch has no fused kernel (CPUs before torch 2.4, Apple's GPUs before 2.5), the same update
    unfused."""
    parameters = list(parameters)
    return torch.optim.SGD(parameters, rate, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                           fused=has_fused_kernels(parameters))


def has_fused_kernels(parameters):
    """Whether torch has fused SGD kernels for the parameters' devices (it checks only at the first step)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices as fused_devices
    except ImportError:  # a later torch without this helper: fused kernels everywhere, as its SGD decides
        return True
    return all(parameter.device.type in fused_devices() for parameter in parameters)


class Lookahead:
    """Weight averaging for short runs (the lookahead of the CIFAR-10 speed records): every `every` steps the slow
    weights move toward the trained ones, slow += (1 - decay) * (trained - slow), and training goes on from the
    slow weights. decay rises as final_decay * (step / total_steps) ** 3: none early, while the weights move far,
    and more and more as the rate falls, where averaging the last steps removes their noise. finish() ends on
    the slow weights. They live in the optimiser's state, so a saved and restored optimiser carries them."""

    def __init__(self, optimizer, steps_per_epoch, epochs, every=5, final_decay=0.95 ** 5):
        self.optimizer, self.every, self.final_decay = optimizer, every, final_decay
        self.steps_per_epoch, self.total_steps = steps_per_epoch, steps_per_epoch * epochs

    def _parameters(self):
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    @torch.no_grad()
    def _pull(self, decay):
        parameters = self._parameters()
        slow = []
        for p in parameters:
            if "slow" not in self.optimizer.state[p]:
                self.optimizer.state[p]["slow"] = p.detach().clone()
            slow.append(self.optimizer.state[p]["slow"])
        torch._foreach_lerp_(slow, parameters, 1 - decay)
        torch._foreach_copy_(parameters, slow)

    def step(self, step):
        """Call after optimiser step number `step` (1-based, counted over the whole run)."""
        if step % self.every == 0:
            self._pull(self.final_decay * (step / self.total_steps) ** 3)

    def after_step(self, epoch):
        """train()'s after_step for 1-based `epoch`: batch i of it is step (epoch - 1) * steps_per_epoch + i + 1."""
        return lambda batch_index: self.step((epoch - 1) * self.steps_per_epoch + batch_index + 1)

    def finish(self):
        self._pull(1.0)


def set_learning_rate(optimizer, rate):
    for group in optimizer.param_groups:
        group["lr"] = rate


def autocast(device, enabled):
    """bfloat16 autocast on `device` when `enabled` (no loss scaling needed: bf16 has float32's range)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def train(model, batches, criterion, optimizer, rate_at_batch=None, amp=False, on_batch=None, after_step=None):
    """One pass over `batches` of (images, labels, loss_scale), as DeviceBatches yields for training; returns
    (mean training loss per image, training accuracy) over all ranks.
    rate_at_batch(i), when given, sets the learning rate before batch i; `amp` runs forward and loss in bf16;
    on_batch(loss), when given, is called after each step (a progress bar), and after_step(i) after step i (the
    weight averaging)."""
    model.train()
    device = next(model.parameters()).device
    # Per-batch results stay on the device, summed once at the end: the loop never waits for the device to catch
    # up, and one operation per step (the argmax) keeps the bookkeeping off a small model's critical path.
    losses, predictions, targets = [], [], []
    for batch_index, (images, labels, loss_scale) in enumerate(batches):
        if rate_at_batch is not None:
            set_learning_rate(optimizer, rate_at_batch(batch_index))
        with autocast(device, amp):
            logits = model(images)
            loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        (loss * loss_scale if loss_scale != 1 else loss).backward()  # the batch's share of the global batch (DDP)
        optimizer.step()
        if after_step is not None:
            after_step(batch_index)
        losses.append(loss.detach())
        predictions.append(logits.detach().argmax(dim=1))
        targets.append(labels)
        if on_batch is not None:
            on_batch(losses[-1])
    wide = float64_device(device)  # the sums in float64: exact counts, and no rounding of a long epoch's loss
    sizes = torch.tensor([len(labels) for labels in targets], dtype=torch.float64, device=wide)
    totals = torch.stack([(torch.stack(losses).to(wide).double() * sizes).sum(),
                          (torch.cat(predictions) == torch.cat(targets)).sum().to(wide).double(), sizes.sum()])
    loss_sum, correct_sum, seen_sum = distributed.sum_across_ranks(totals).tolist()
    return loss_sum / seen_sum, correct_sum / seen_sum


def validate(model, batches, num_classes, amp=False, on_batch=None):
    """The model's confusion matrix over `batches`, summed over all ranks (on the CPU); on_batch() is called
    after each batch."""
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    with torch.inference_mode(), autocast(device, amp):
        for images, labels in batches:
            confusion = confusion + confusion_matrix(labels, model(images).argmax(dim=1), num_classes)
            if on_batch is not None:
                on_batch()
    return distributed.sum_across_ranks(confusion).cpu()
