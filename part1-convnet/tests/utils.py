"""The numeric-gradient helpers under the names the kit's own test files import (`from .utils import *`), so that
those files run here beside ours; they share gradient_check.py's finite differences."""
from tests.gradient_check import numeric_gradient, rel_error

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error"]


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of sum(f(x) * df) with respect to the array x (changed in place, then restored)."""
    return numeric_gradient(lambda: f(x), x, df, h)


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Gradient of the scalar f(x) with respect to the array x; `verbose` is accepted and ignored (no printing)."""
    return numeric_gradient(lambda: f(x), x, 1.0, h)
