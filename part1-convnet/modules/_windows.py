"""Window arithmetic shared by Conv2D and MaxPooling (NCHW). Each helper loops over the k x k kernel
offsets only; every step inside is one strided array operation over all samples, channels and pixels."""
import numpy as np


def check_nchw(x, channels, layer):
    """Raise ValueError unless x is a 4-D (N, C, H, W) batch with the expected channel count."""
    if x.ndim != 4:
        raise ValueError(f"{layer} expects a 4-D input (N, C, H, W), got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer} expects {channels} input channels, got shape {x.shape}")


def output_size(size, kernel_size, stride, layer):
    if size < kernel_size:
        raise ValueError(f"{layer}: kernel {kernel_size} is larger than the (padded) input size {size}")
    return (size - kernel_size) // stride + 1


def offset_view(x, i, j, out_shape, stride):
    """The pixels that kernel offset (i, j) touches, one per output position: (N, C, H_out, W_out)."""
    h_out, w_out = out_shape
    return x[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride]


def im2col(x, kernel_size, stride, out_shape):
    """(N, C, H, W) -> (C, k, k, N, H_out, W_out): for each kernel offset, the input it meets at every output.
    Channels and offsets come first, so that reshaped to (C*k*k, N*H_out*W_out) the columns of all N samples
    sit side by side and one matrix product covers them."""
    n, c = x.shape[:2]
    cols = np.empty((c, kernel_size, kernel_size, n) + tuple(out_shape), dtype=x.dtype)
    channels_first = x.transpose(1, 0, 2, 3)  # a view: (C, N, H, W)
    for i in range(kernel_size):
        for j in range(kernel_size):
            cols[:, i, j] = offset_view(channels_first, i, j, out_shape, stride)
    return cols


def col2im(cols, dx, stride):
    """Adjoint of im2col: add each offset's (C, N, H_out, W_out) slice of cols into dx (N, C, H, W), in place.
    Windows overlap when stride < k, so the adds accumulate."""
    kernel_size, out_shape = cols.shape[1], cols.shape[4:]
    channels_first = dx.transpose(1, 0, 2, 3)
    for i in range(kernel_size):
        for j in range(kernel_size):
            offset_view(channels_first, i, j, out_shape, stride)[...] += cols[:, i, j]
