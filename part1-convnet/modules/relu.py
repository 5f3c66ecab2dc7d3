"""Element-wise rectified linear unit."""
import numpy as np

from ._finite import may_hold_inf_or_nan


class ReLU:
    def __init__(self):
        self.cache = None
        self.dx = None

    def forward(self, x):
        self.cache = x
        return np.maximum(x, 0)

    def backward(self, dout):
        # The sub-gradient at exactly 0 is taken as 0, as PyTorch does. The product with the mask is 4x faster
        # than np.where, but an inf or NaN from above would come out NaN where x <= 0 (PyTorch: 0).
        positive = ~(self.cache <= 0)  # x > 0 and NaN: a NaN input passes its gradient on, as in PyTorch
        self.dx = np.where(positive, dout, 0) if may_hold_inf_or_nan(dout) else dout * positive
