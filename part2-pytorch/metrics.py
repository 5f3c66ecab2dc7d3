"""Confusion matrices (rows: true class, columns: predicted class) and the accuracies read from them."""
import torch


def confusion_matrix(labels, predictions, num_classes):
    """Counts (num_classes, num_classes) int64: entry [t, p] is how many images of class t were predicted p."""
    flat = torch.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def accuracy(confusion):
    return confusion.diagonal().sum().item() / confusion.sum().item()


def per_class_accuracy(confusion):
    """Recall of each true class: the diagonal over the row sums, float64 (nan for a class with no images)."""
    return confusion.diagonal().double() / confusion.sum(dim=1)


def row_normalised(confusion):
    """Each row divided by its sum (float64), so row t is the distribution of predictions for class t."""
    return confusion.double() / confusion.sum(dim=1, keepdim=True).clamp_min(1)
