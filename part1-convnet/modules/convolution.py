"""2-D convolution (cross-correlation, as in deep learning) with zero padding, vectorised with im2col."""
import numpy as np

from ._windows import check_nchw, col2im, im2col, output_size


class Conv2D:
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=0):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.cache = None
        self._init_weights()

    def _init_weights(self):
        np.random.seed(1024)
        k = self.kernel_size
        self.weight = 1e-3 * np.random.randn(self.out_channels, self.in_channels, k, k)
        self.bias = np.zeros(self.out_channels)
        self.dx = None
        self.dw = None
        self.db = None

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, F, H_out, W_out), H_out = (H + 2p - k) // s + 1."""
        check_nchw(x, self.in_channels, "Conv2D")
        k, s, p = self.kernel_size, self.stride, self.padding
        x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        out_shape = (output_size(x_padded.shape[2], k, s, "Conv2D"), output_size(x_padded.shape[3], k, s, "Conv2D"))
        n = x.shape[0]
        cols = im2col(x_padded, k, s, out_shape).reshape(n, -1, out_shape[0] * out_shape[1])  # (N, C*k*k, P)
        # One matrix product per sample, (F, C*k*k) @ (C*k*k, P), lands directly in NCHW order.
        out = self.weight.reshape(self.out_channels, -1) @ cols + self.bias[:, None]
        self.cache = (x, cols)
        return out.reshape(n, self.out_channels, *out_shape)

    def backward(self, dout):
        """dout: (N, F, H_out, W_out) -> dx (N, C, H, W), dw (F, C, k, k), db (F,)."""
        x, cols = self.cache
        n, c, h, w = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        dout_flat = dout.reshape(n, self.out_channels, -1)  # (N, F, P)
        self.db = dout_flat.sum(axis=(0, 2))
        self.dw = (dout_flat @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.weight.shape)
        dcols = self.weight.reshape(self.out_channels, -1).T @ dout_flat  # (N, C*k*k, P)
        dx_padded = col2im(dcols.reshape(n, c, k, k, *dout.shape[2:]), (n, c, h + 2 * p, w + 2 * p), s)
        self.dx = dx_padded[:, :, p:p + h, p:p + w]
