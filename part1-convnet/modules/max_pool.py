"""2-D max pooling; the gradient goes to the arg-max of each window (the first one on ties, as in PyTorch)."""
import numpy as np

from ._parallel import over_samples
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
        out = np.empty(x.shape[:2] + out_shape, dtype=x.dtype)

        def pool(part):  # a running maximum over the kernel offsets
            x_part, out_part = x[part], out[part]
            out_part[...] = offset_view(x_part, 0, 0, out_shape, s)
            for offset in range(1, k * k):
                np.maximum(out_part, offset_view(x_part, offset // k, offset % k, out_shape, s), out=out_part)

        over_samples(pool, x.shape[0], x.size)
        self.cache = (x, out)
        return out

    def backward(self, dout):
        """dout: (N, C, H_out, W_out) -> dx (N, C, H, W), nonzero only at each window's arg-max.

        Offsets are visited in row-major order and each window's gradient goes to the first offset equal to its
        maximum: `unclaimed` marks the windows still waiting, so a tie (common after a ReLU) never routes twice."""
        x, out = self.cache
        k, s = self.kernel_size, self.stride
        out_shape = out.shape[2:]
        tiled = k == s and x.shape[2] == k * out_shape[0] and x.shape[3] == k * out_shape[1]
        # When the windows tile x exactly, every element of dx is written below: no need to zero it first.
        self.dx = np.empty(x.shape, dtype=dout.dtype) if tiled else np.zeros(x.shape, dtype=dout.dtype)

        def route(part):
            x_part, out_part, dout_part, dx_part = x[part], out[part], dout[part], self.dx[part]
            is_max = np.empty(out_part.shape, dtype=bool)
            routed = np.empty(out_part.shape, dtype=dout.dtype) if k > s else None
            unclaimed = np.ones(out_part.shape, dtype=bool)
            for offset in range(k * k):
                i, j = divmod(offset, k)
                np.equal(offset_view(x_part, i, j, out_shape, s), out_part, out=is_max)
                if offset:
                    np.logical_and(is_max, unclaimed, out=is_max)
                target = offset_view(dx_part, i, j, out_shape, s)
                if k <= s:  # disjoint windows: each element of dx belongs to one window and offset
                    np.multiply(dout_part, is_max, out=target)
                else:  # overlapping windows: an element of dx can win several, so add
                    np.add(target, np.multiply(dout_part, is_max, out=routed), out=target)
                if offset < k * k - 1:
                    np.logical_xor(unclaimed, is_max, out=unclaimed)  # is_max implies unclaimed: clears it

        over_samples(route, x.shape[0], x.size)
