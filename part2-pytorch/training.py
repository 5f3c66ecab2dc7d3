"""The kit's learning-rate rule, one epoch of training, and one pass of validation."""
import torch

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


def set_learning_rate(optimizer, rate):
    for group in optimizer.param_groups:
        group["lr"] = rate


def train(model, batches, criterion, optimizer, rate_at_batch=None):
    """One pass over `batches`; returns (mean training loss per image, training accuracy).
    rate_at_batch(i), when given, sets the learning rate before batch i."""
    model.train()
    # Totals stay on the device until the end, so the loop never waits for the device to catch up.
    loss_total, correct, seen = 0.0, 0, 0
    for batch_index, (images, labels) in enumerate(batches):
        if rate_at_batch is not None:
            set_learning_rate(optimizer, rate_at_batch(batch_index))
        logits = model(images)
        loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_total = loss_total + loss.detach() * len(labels)
        correct = correct + (logits.argmax(dim=1) == labels).sum()
        seen += len(labels)
    return float(loss_total) / seen, int(correct) / seen


def validate(model, batches, num_classes):
    """The model's confusion matrix over `batches` (on the CPU)."""
    model.eval()
    confusion = 0
    with torch.inference_mode():
        for images, labels in batches:
            confusion = confusion + confusion_matrix(labels, model(images).argmax(dim=1), num_classes)
    return confusion.cpu()
