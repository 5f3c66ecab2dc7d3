"""2-D max pooling; the gradient goes to the arg-max of each window (the first one on ties, the last NaN if any,
as in PyTorch).

Forward finds each window's maximum and the flat index into x of where it sits. Backward is then one scatter-add,
    dx.ravel() = bincount(index.ravel(), weights=dout.ravel(), minlength=x.size),
which sums the gradients of windows that share their arg-max (overlapping windows, stride < k) and leaves zeros
where no window's maximum sits.
"""
import numpy as np

from ._parallel import over_samples
from ._windows import check_gradient, check_nchw, check_window, offset_view, output_size


def window_maxima(x, k, s, out, nan_wins=False):
    """Write the windows' maxima of x into out and return where each lies, counted from its window's top-left
    pixel in x.ravel(): i*w + j for offset (i, j); k*k strided passes over x, one per kernel offset."""
    w = x.shape[3]
    argmax_offset = np.zeros(out.shape, dtype=np.min_scalar_type((k - 1) * w + k - 1))
    greater = np.empty(out.shape, dtype=bool)
    offset_where_greater = np.empty_like(argmax_offset)
    out[...] = offset_view(x, 0, 0, out.shape[2:], s)
    for offset in range(1, k * k):
        i, j = divmod(offset, k)
        pixels = offset_view(x, i, j, out.shape[2:], s)
        np.greater(pixels, out, out=greater)  # strictly: on a tie the earlier offset keeps the window
        if nan_wins:
            greater |= np.isnan(pixels)
        np.maximum(out, pixels, out=out)  # a NaN, once in, stays
        # argmax_offset = i*w + j where greater, else unchanged; i*w + j grows with the offset (j < k <= w), so it
        # exceeds every earlier one and a maximum does it
        np.multiply(greater, argmax_offset.dtype.type(i * w + j), out=offset_where_greater)
        np.maximum(argmax_offset, offset_where_greater, out=argmax_offset)
    return argmax_offset


def pool_samples(x, kernel_size, stride, out, index, first_sample):
    """Write the windows' maxima of x (N, C, H, W) into out (N, C, H_out, W_out) and their flat indices into the
    whole batch (x is samples first_sample.. of it) into index."""
    k, s, out_shape = kernel_size, stride, out.shape[2:]
    n, c, h, w = x.shape
    argmax_offset = window_maxima(x, k, s, out)
    if out.dtype.kind == "f" and np.isnan(out).any():  # a diverged input: PyTorch routes the gradient to the
        argmax_offset = window_maxima(x, k, s, out, nan_wins=True)  # window's last NaN, as no number beats NaN
    plane_starts = np.arange(first_sample * c, (first_sample + n) * c).reshape(n, c, 1, 1) * (h * w)
    window_corners = s * (np.arange(out_shape[0]).reshape(-1, 1) * w + np.arange(out_shape[1]))  # in a plane
    np.add(plane_starts, window_corners, out=index)
    index += argmax_offset


class MaxPooling:
    def __init__(self, kernel_size, stride):
        check_window(kernel_size, stride, 0, "MaxPooling")
        self.kernel_size = kernel_size
        self.stride = stride
        self.cache = None
        self.dx = None

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, C, H_out, W_out), H_out = (H - k) // s + 1."""
        check_nchw(x, None, "MaxPooling")
        k, s = self.kernel_size, self.stride
        out_shape = (output_size(x.shape[2], k, s, "MaxPooling"), output_size(x.shape[3], k, s, "MaxPooling"))
        out = np.empty(x.shape[:2] + out_shape, dtype=x.dtype)
        index = np.empty(out.shape, dtype=np.intp)
        # NumPy's element-wise passes use one core; disjoint slices of the batch can run on several
        over_samples(lambda part: pool_samples(x[part], k, s, out[part], index[part], part.start),
                     x.shape[0], x.size)
        self.cache = (x.shape, index)
        return out

    def backward(self, dout):
        """dout: (N, C, H_out, W_out) -> dx (N, C, H, W), nonzero only at each window's arg-max."""
        x_shape, index = self.cache
        check_gradient(dout, index.shape, "MaxPooling")
        dx = np.bincount(index.ravel(), weights=dout.ravel(), minlength=int(np.prod(x_shape)))  # sums in float64
        self.dx = dx.reshape(x_shape).astype(np.result_type(dout, np.float32), copy=False)  # float32 stays float32
