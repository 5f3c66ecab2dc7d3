"""2-D max pooling; the gradient goes to the arg-max of each window (the first one on ties, as in PyTorch)."""
import numpy as np

from ._windows import check_nchw, offset_view, output_size


class MaxPooling:
    def __init__(self, kernel_size, stride):
        self.kernel_size = kernel_size
        self.stride = stride
        self.cache = None
        self.dx = None

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, C, H_out, W_out), H_out = (H - k) // s + 1."""
        check_nchw(x, None, "MaxPooling")
        k, s = self.kernel_size, self.stride
        out_shape = (output_size(x.shape[2], k, s, "MaxPooling"), output_size(x.shape[3], k, s, "MaxPooling"))
        out = offset_view(x, 0, 0, out_shape, s).copy()
        for offset in range(1, k * k):  # a running maximum over the kernel offsets
            np.maximum(out, offset_view(x, offset // k, offset % k, out_shape, s), out=out)
        self.cache = (x, out)
        return out

    def backward(self, dout):
        """dout: (N, C, H_out, W_out) -> dx (N, C, H, W), nonzero only at each window's arg-max.

        Offsets are visited in row-major order; the first one equal to the maximum takes the whole gradient
        and `remaining` drops to zero there, so a tie (common after a ReLU) never routes it twice."""
        x, out = self.cache
        k, s = self.kernel_size, self.stride
        self.dx = np.zeros(x.shape, dtype=dout.dtype)
        remaining = dout.copy()
        is_max = np.empty(out.shape, dtype=bool)
        for offset in range(k * k):
            i, j = divmod(offset, k)
            np.equal(offset_view(x, i, j, out.shape[2:], s), out, out=is_max)
            target = offset_view(self.dx, i, j, out.shape[2:], s)
            if k <= s:  # disjoint windows: write straight into dx, each input pixel once
                routed = np.multiply(remaining, is_max, out=target)
            else:
                routed = remaining * is_max
                target += routed
            if offset < k * k - 1:
                remaining -= routed
