"""Window arithmetic shared by Conv2D and MaxPooling (NCHW); Conv2D's im2col is in modules/_planes.py."""


def check_nchw(x, channels, layer):
    """Raise ValueError unless x is a 4-D (N, C, H, W) batch with the expected channel count."""
    if x.ndim != 4:
        raise ValueError(f"{layer} expects a 4-D input (N, C, H, W), got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer} expects {channels} input channels, got shape {x.shape}")


def check_window(kernel_size, stride, padding, layer):
    """Raise ValueError unless kernel and stride are at least 1 and padding at least 0 (negative padding would crop)."""
    if kernel_size < 1 or stride < 1 or padding < 0:
        raise ValueError(f"{layer} needs kernel_size >= 1, stride >= 1 and padding >= 0, got kernel_size "
                         f"{kernel_size}, stride {stride}, padding {padding}")


def check_gradient(dout, out_shape, layer):
    """Raise ValueError unless dout has the forward output's shape (a wrong one would broadcast, or be reshaped)."""
    if dout.shape != tuple(out_shape):
        raise ValueError(f"{layer}.backward expects dout of the forward output's shape {tuple(out_shape)}, "
                         f"got {dout.shape}")


def output_size(size, kernel_size, stride, layer):
    if size < kernel_size:
        raise ValueError(f"{layer}: kernel {kernel_size} is larger than the (padded) input size {size}")
    return (size - kernel_size) // stride + 1


def offset_view(x, i, j, out_shape, stride):
    """The pixels that kernel offset (i, j) touches, one per output position: (N, C, H_out, W_out)."""
    h_out, w_out = out_shape
    return x[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride]
