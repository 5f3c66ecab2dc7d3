"""Centred finite differences and the relative error used by the gradient checks (float64 throughout)."""
import numpy as np


def numeric_gradient(f, x, dout, h=1e-5):
    """Gradient of sum(f() * dout) with respect to the array x, which f reads; x is restored afterwards."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        plus = np.sum(f() * dout)
        x[i] = saved - h
        minus = np.sum(f() * dout)
        x[i] = saved
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b):
    """||a - b|| / (||a|| + ||b||): one number for the whole array, so a near-zero entry (where rounding
    dominates) cannot hide or fake agreement; a wrong gradient gives O(1)."""
    return float(np.linalg.norm(a - b) / max(1e-12, np.linalg.norm(a) + np.linalg.norm(b)))
