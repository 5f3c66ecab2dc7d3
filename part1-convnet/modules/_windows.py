"""Window arithmetic shared by Conv2D and MaxPooling (NCHW); Conv2D's im2col is in modules/_planes.py."""
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
