"""2-D convolution (cross-correlation, as in deep learning) with zero padding, vectorised with im2col.

With K = k*k*C (kernel offset, then channel), P the output pixels and cols_n (K, P) sample n's columns,
    cols_n[(i, j, c), (y, x)] = x_pad[n, c, s*y + i, s*x + j],
    out_n = W (F, K) @ cols_n + b                        (forward)
    dW = sum_n dout_n (F, P) @ cols_n^T,  db = dout summed over n, y, x
    dcols_n = W^T @ dout_n (K, P),  dx_pad = col2im(dcols)   (im2col's adjoint: overlapping windows add up).
b and db ride in the products: a row of ones under cols_n meets b as W's last column, and makes db dW's last.
Each chunk of samples is laid out as modules/_planes.py describes, so that im2col and col2im are k*k long
contiguous runs per sample; P then counts `width` columns per output row, the extra ones cut off (forward) or kept
at zero (backward).

The batch goes through in chunks of samples, each thread reusing its own chunk-sized buffers (planes, columns,
output or gradients) from call to call (modules/_scratch.py), so that they stay in its cache; only x, the output
and the gradients pass through memory. The plan (samples per chunk, threads, BLAS threads) changes only the speed,
and which one is fastest depends on the CPU and its BLAS (cache sizes, page-fault cost, how BLAS's own threads
share the cores with ours), so the first calls time each (modules/_autotune.py). Backward lays out each chunk and
builds its columns again from the cached x: in cache, that costs less than keeping and re-reading the whole
batch's (a padded, phase-split copy of x made outside the threads was a third of a strided layer's forward).
dW is kept per sample and summed in sample order, whatever the plan.
"""
from typing import NamedTuple

import numpy as np

from ._autotune import fastest
from ._finite import may_hold_inf_or_nan
from ._parallel import can_limit_blas, in_chunks, thread_count
from ._planes import Planes
from ._scratch import buffer
from ._windows import check_gradient, check_nchw, check_window


def chunk_sizes(samples):
    """Candidate samples per chunk: all of them, then halves down to one sample."""
    sizes = [samples]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def plans(samples):
    """Candidate (samples per chunk, threads, BLAS threads): one thread with BLAS on its own threads, or every
    thread with a contiguous share of the batch and BLAS held to one thread per product (if threadpoolctl can;
    else BLAS keeps its count). The second keeps the cores busiest unless BLAS's workers are still spinning from
    another layer's product (modules/_autotune.py), which the first does not mind."""
    threads = min(thread_count(), samples)
    ways = [(1, None)]
    if threads > 1:
        ways.insert(0, (threads, 1 if can_limit_blas() else None))
    return [(chunk, threads, blas) for threads, blas in ways for chunk in chunk_sizes(-(-samples // threads))]


class TuningKey(NamedTuple):
    """What the fastest plan depends on (modules/_autotune.py keeps one choice per key)."""
    layer: str  # "Conv2D.forward" or "Conv2D.backward"
    x_shape: tuple
    dtype: np.dtype
    weight_shape: tuple
    stride: int
    padding: int
    threads: int


def column_buffers(layout, chunk, rows, x_dtype, dtype):
    """This thread's planes and columns for `chunk` samples (modules/_scratch.py keeps them between calls); the
    columns' last row is ones, which meet the bias as W's last column."""
    planes = buffer(("planes", layout.key), layout.buffer_shape(chunk), x_dtype)
    cols = buffer(("columns", layout.key), (chunk, rows + 1, layout.plane_size), dtype)
    cols[:, -1] = 1
    return planes, cols


def fill_columns(layout, x_part, planes, cols):
    """Lay out the samples x_part (m, C, H, W) in planes, then copy their columns into cols[:m] (above the ones)."""
    m = len(x_part)
    layout.scatter(x_part, planes[:, :m])
    layout.im2col(planes[:, :m], cols[:m, :-1].reshape(m, len(layout.offsets), -1))


class Conv2D:
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=0):
        check_window(kernel_size, stride, padding, "Conv2D")
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

    def _key(self, name, x_shape, dtype):
        return TuningKey(name, x_shape, dtype, self.weight.shape, self.stride, self.padding, thread_count())

    def _weight_matrix(self):
        """W as (F, K), K ordered (i, j, c) like the columns."""
        return self.weight.transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, F, H_out, W_out), H_out = (H + 2p - k) // s + 1."""
        check_nchw(x, self.in_channels, "Conv2D")
        layout = Planes(x.shape, self.kernel_size, self.stride, self.padding)
        (h_out, w_out), f, n = layout.out_shape, self.out_channels, x.shape[0]
        weight = self._weight_matrix()
        dtype = np.result_type(x, weight)
        out = np.empty((n, f, h_out, w_out), dtype=dtype)

        # the bias as one more column of W, against a row of ones in the columns: the product adds it, so cutting
        # off the unused columns is a plain copy (a broadcast add over 32-pixel rows cost as much as the product)
        weight_and_bias = np.concatenate([weight, self.bias[:, None]], axis=1)

        def convolve(plan):
            chunk, threads, blas_threads = plan
            used = layout.columns_per_sample

            def convolve_chunks(parts):
                planes, cols = column_buffers(layout, chunk, weight.shape[1], x.dtype, dtype)
                out_wide = buffer(("output", layout.key), (chunk, f, used), dtype)
                for part in parts:
                    m = part.stop - part.start
                    fill_columns(layout, x[part], planes, cols)
                    with np.errstate(invalid="ignore", over="ignore"):  # an inf in the unused columns, cut off
                        np.matmul(weight_and_bias, cols[:m, :, :used], out=out_wide[:m])
                    out[part] = out_wide[:m].reshape(m, f, h_out, -1)[..., :w_out]
            in_chunks(convolve_chunks, n, chunk, threads, blas_threads)
            return out

        out = fastest(self._key("Conv2D.forward", x.shape, x.dtype), plans(n), convolve)
        self.cache = x
        return out

    def backward(self, dout):
        """dout: (N, F, H_out, W_out) -> dx (N, C, H, W), dw (F, C, k, k), db (F,)."""
        x = self.cache
        layout = Planes(x.shape, self.kernel_size, self.stride, self.padding)
        (h_out, w_out), f, n = layout.out_shape, self.out_channels, x.shape[0]
        check_gradient(dout, (n, f, h_out, w_out), "Conv2D")
        weight = self._weight_matrix()
        weight_t = np.ascontiguousarray(weight.T)  # (K, F)
        dtype = np.result_type(dout, weight)
        rows, taps = weight.shape[1], len(layout.offsets)

        def gradients(plan, clear_junk=False):
            chunk, threads, blas_threads = plan
            used = layout.columns_per_sample
            # the row of ones under the columns (as in forward) makes the last column of dW the bias gradient
            dw_and_db_per_sample = np.empty((n, f, rows + 1), dtype=dtype)
            dx = np.zeros(x.shape, dtype=dtype)  # pixels no window reads get no gradient

            def gradients_chunks(parts):
                planes, cols = column_buffers(layout, chunk, rows, x.dtype, dtype)
                # the columns past each output row and past the last row stay zero in these two
                dout_wide = buffer(("output gradient", layout.key), (chunk, f, h_out, layout.width), dtype)
                dcols = buffer(("column gradient", layout.key), (chunk, rows, layout.plane_size), dtype)
                dplanes = buffer(("plane gradient", layout.key), layout.buffer_shape(chunk), dtype)
                for part in parts:
                    m = part.stop - part.start
                    fill_columns(layout, x[part], planes, cols)
                    if clear_junk:
                        layout.clear_junk(cols[:m, :-1])
                    dout_wide[:m, :, :, :w_out] = dout[part]
                    dout_cols = dout_wide[:m].reshape(m, f, -1)  # (m, F, P)
                    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf: checked after the sum
                        np.matmul(dout_cols, cols[:m, :, :used].transpose(0, 2, 1), out=dw_and_db_per_sample[part])
                    np.matmul(weight_t, dout_cols, out=dcols[:m, :, :used])
                    dplanes[:, :m] = 0
                    layout.col2im(dcols[:m].reshape(m, taps, -1), dplanes[:, :m])
                    layout.gather(dplanes[:, :m], dx[part])
            in_chunks(gradients_chunks, n, chunk, threads, blas_threads)
            return dw_and_db_per_sample.sum(axis=0), dx  # summed in sample order, whatever the plan

        dw_and_db, self.dx = fastest(self._key("Conv2D.backward", x.shape, dout.dtype), plans(n), gradients)
        # an inf or NaN in x times the zero gradient of an unused column is NaN in dW: then compute again with
        # those columns cleared (the same result otherwise)
        if not np.isfinite(dw_and_db).all() and may_hold_inf_or_nan(x):
            dw_and_db, self.dx = gradients(plans(n)[0], clear_junk=True)
        self.db = dw_and_db[:, -1].copy()
        self.dw = np.ascontiguousarray(
            dw_and_db[:, :-1].reshape(f, self.kernel_size, self.kernel_size, self.in_channels).transpose(0, 3, 1, 2))
