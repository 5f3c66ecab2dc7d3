"""Element-wise rectified linear unit."""
import numpy as np


class ReLU:
    def __init__(self):
        self.cache = None
        self.dx = None

    def forward(self, x):
        self.cache = x
        return np.maximum(x, 0)

    def backward(self, dout):
        # The sub-gradient at exactly 0 is taken as 0, as PyTorch does.
        self.dx = np.where(self.cache > 0, dout, 0)  # not dout * mask: an inf or NaN from above stops here too
