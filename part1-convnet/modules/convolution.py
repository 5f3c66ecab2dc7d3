"""2-D convolution (cross-correlation, as in deep learning) with zero padding, vectorised with im2col.

With K = C*k*k, P = H_out*W_out and x_pad the padded input, sample n's columns are
    cols_n (K, P):  cols_n[(c, i, j), (y, x)] = x_pad[n, c, s*y + i, s*x + j]
so that
    out_n = W (F, K) @ cols_n + b             (forward)
    dW = sum_n dout_n (F, P) @ cols_n^T,  db = dout summed over n, y, x
    dcols_n = W^T @ dout_n (K, P),  dx_pad = col2im(dcols)   (im2col's adjoint: overlapping windows add up).

The batch goes through these in chunks of samples, the chunk's columns side by side, (K, n_chunk*P): one matrix
product per pass and chunk. The plan (samples per chunk, threads) only changes the speed, and which one is fastest
depends on the CPU and its BLAS: a whole batch's columns (75 MB for 64x16x32x32, k3) leave the caches and cost a
page fault per 4 KiB on every call, while a few samples' columns stay in cache but need more, smaller products;
the copies (im2col, col2im) use one core unless chunks run on several threads, whose products then compete with
BLAS's own threads. So the plan is timed on first use (modules/_autotune.py). Backward builds each chunk's columns
again from the cached input rather than keeping them: in cache, that copy costs less than writing and re-reading
the whole batch's columns. dW is summed over the samples in order, whatever the plan.
"""
import numpy as np

from ._autotune import fastest
from ._parallel import in_chunks, thread_count
from ._windows import check_nchw, col2im, im2col, output_size


def chunk_sizes(samples):
    """Candidate samples per chunk: all of them, then halves down to one sample."""
    sizes = [samples]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def plans(samples):
    """Candidate (samples per chunk, threads): one thread, or every thread with a contiguous share each."""
    thread_counts = sorted({1, min(thread_count(), samples)})
    return [(chunk, threads) for threads in thread_counts for chunk in chunk_sizes(-(-samples // threads))]


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

    def _out_shape(self, x_padded):
        k, s = self.kernel_size, self.stride
        return output_size(x_padded.shape[2], k, s, "Conv2D"), output_size(x_padded.shape[3], k, s, "Conv2D")

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, F, H_out, W_out), H_out = (H + 2p - k) // s + 1."""
        check_nchw(x, self.in_channels, "Conv2D")
        k, s, p = self.kernel_size, self.stride, self.padding
        x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        out_shape = self._out_shape(x_padded)
        n, f = x.shape[0], self.out_channels
        weight = self.weight.reshape(f, -1)  # (F, K)

        def convolve(plan):
            out = np.empty((n, f) + out_shape, dtype=np.result_type(x, weight))

            def convolve_chunk(part):
                cols = im2col(x_padded[part], k, s, out_shape).reshape(weight.shape[1], -1)  # (K, n_chunk*P)
                out[part] = (weight @ cols).reshape(f, -1, *out_shape).transpose(1, 0, 2, 3)
            in_chunks(convolve_chunk, n, *plan)
            return out

        key = ("Conv2D.forward", x_padded.shape, x_padded.dtype, self.weight.shape, s)
        out = fastest(key, plans(n), convolve)
        out += self.bias[:, None, None]
        self.cache = x_padded
        return out

    def backward(self, dout):
        """dout: (N, F, H_out, W_out) -> dx (N, C, H, W), dw (F, C, k, k), db (F,)."""
        x_padded = self.cache
        n, c, h_padded, w_padded = x_padded.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        out_shape, f = dout.shape[2:], self.out_channels
        weight = self.weight.reshape(f, -1)  # (F, K)

        def gradients(plan):
            dw_per_sample = np.empty((n,) + weight.shape)
            dx_padded = np.zeros(x_padded.shape, dtype=dout.dtype)

            def gradients_chunk(part):
                cols = im2col(x_padded[part], k, s, out_shape)  # (C, k, k, n_chunk, H_out, W_out)
                samples = cols.shape[3]
                dout_cols = dout[part].transpose(1, 0, 2, 3).reshape(f, -1)  # (F, n_chunk*P)
                # (n_chunk, F, P) @ (n_chunk, P, K), both views of the chunk's columns: dW of each sample
                np.matmul(dout_cols.reshape(f, samples, -1).transpose(1, 0, 2),
                          cols.reshape(weight.shape[1], samples, -1).transpose(1, 2, 0), out=dw_per_sample[part])
                dcols = weight.T @ dout_cols  # (K, n_chunk*P)
                col2im(dcols.reshape(cols.shape), dx_padded[part], s)
            in_chunks(gradients_chunk, n, *plan)
            return dw_per_sample.sum(axis=0), dx_padded  # summed in sample order, whatever the plan

        key = ("Conv2D.backward", x_padded.shape, x_padded.dtype, self.weight.shape, s)
        dw, dx_padded = fastest(key, plans(n), gradients)
        self.db = dout.sum(axis=(0, 2, 3))
        self.dw = dw.reshape(self.weight.shape)
        self.dx = dx_padded[:, :, p:h_padded - p, p:w_padded - p]
