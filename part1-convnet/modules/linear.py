"""Fully connected layer y = x_flat @ weight + bias, with weight of shape (in_dim, out_dim)."""
import numpy as np


class Linear:
    def __init__(self, in_dim, out_dim):
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.cache = None
        self._init_weights()

    def _init_weights(self):
        np.random.seed(1024)
        self.weight = 1e-3 * np.random.randn(self.in_dim, self.out_dim)
        np.random.seed(1024)  # the kit's: draws nothing here, but resets what later np.random calls draw
        self.bias = np.zeros(self.out_dim)
        self.dx = None
        self.dw = None
        self.db = None

    def forward(self, x):
        """x: (N, d1, ..., dn) with d1 * ... * dn = in_dim -> out: (N, out_dim)."""
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != self.in_dim:
            raise ValueError(f"Linear expects (N, ...) with {self.in_dim} features per sample, got shape {x.shape}")
        self.cache = x
        return x.reshape(x.shape[0], self.in_dim) @ self.weight + self.bias  # in_dim, not -1: N may be 0

    def backward(self, dout):
        """dout: (N, out_dim) -> dx in x's original shape, dw (in_dim, out_dim), db (out_dim,)."""
        x = self.cache
        x_flat = x.reshape(x.shape[0], self.in_dim)
        self.dw = x_flat.T @ dout
        self.db = dout.sum(axis=0)
        self.dx = (dout @ self.weight.T).reshape(x.shape)
