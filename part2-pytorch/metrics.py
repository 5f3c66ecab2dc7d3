"""Confusion matrices (rows: true class, columns: predicted class) and the accuracies read from them."""
import torch


def confusion_matrix(labels, predictions, num_classes):
    """Counts (num_classes, num_classes) int64: entry [t, p] is how many images of class t were predicted p.
    index_add_ into a fixed-size tensor rather than bincount, which on a GPU waits to learn its output size."""
    flat = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=labels.device)
    flat.index_add_(0, labels * num_classes + predictions, torch.ones_like(labels))
    return flat.view(num_classes, num_classes)


def accuracy(confusion):
    return confusion.diagonal().sum().item() / confusion.sum().item()


def per_class_accuracy(confusion):
    """Recall of each true class: the diagonal over the row sums, float64 (nan for a class with no images)."""
    return confusion.diagonal().double() / confusion.sum(dim=1)


def row_normalised(confusion):
    """Each row divided by its sum (float64), so row t is the distribution of predictions for class t."""
    return confusion.double() / confusion.sum(dim=1, keepdim=True).clamp_min(1)
