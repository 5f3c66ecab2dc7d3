"""Softmax followed by the mean cross-entropy (negative log-likelihood) over the batch."""
import numpy as np


class SoftmaxCrossEntropy:
    def __init__(self):
        self.dx = None
        self.cache = None

    def forward(self, x, y):
        """x: scores (N, C); y: integer labels (N,), any sequence. Returns (probs (N, C), mean loss)."""
        y = np.asarray(y)
        if y.dtype.kind not in "iu" and y.size:  # floats would fail to index; booleans would mask, silently
            raise ValueError(f"SoftmaxCrossEntropy: labels are class indices (integers), got {y.dtype} labels")
        y = y.astype(np.intp, copy=False)  # an empty list reads as float64
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"SoftmaxCrossEntropy expects scores (N, C) and labels (N,), got {x.shape} and {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= x.shape[1]):  # indexing would wrap a -1, not fail
            raise ValueError(f"SoftmaxCrossEntropy: labels must lie in 0..{x.shape[1] - 1} for {x.shape[1]} classes, "
                             f"got labels {y.min()}..{y.max()}")
        with np.errstate(over="ignore"):  # scores over float's range apart: -inf, a probability of exactly 0
            shifted = x - x.max(axis=1, keepdims=True)  # exp never overflows; the softmax is unchanged
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        probs = np.exp(log_probs)
        loss = -log_probs[np.arange(len(y)), y].mean() if len(y) else np.nan  # NaN, as PyTorch, without a warning
        self.cache = (probs, y)
        return probs, loss

    def backward(self):
        probs, y = self.cache
        dx = probs.copy()
        dx[np.arange(len(y)), y] -= 1
        self.dx = dx / len(y)
