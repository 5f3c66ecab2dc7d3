"""The one check the layers make before a fast path that is exact only for finite numbers."""
import numpy as np


def may_hold_inf_or_nan(x):
    """True if x holds an inf or a NaN (or floats whose sum overflows: then the safe path is merely slower);
    one pass, no temporary array."""
    with np.errstate(over="ignore", invalid="ignore"):
        return x.dtype.kind in "fc" and not np.isfinite(x.sum())
