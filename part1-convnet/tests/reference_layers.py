"""The plain versions of Conv2D and MaxPooling: loops over output positions, straight from the definitions.
Slow, and written for reading; the tests compare the fast layers in modules/ against them."""
import numpy as np


def conv_forward(x, weight, bias, stride, padding):
    """out[n, f, y, x] = b[f] + sum over c, i, j of w[f, c, i, j] * x_pad[n, c, s*y + i, s*x + j]."""
    f, _, k, _ = weight.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out, w_out = (x_pad.shape[2] - k) // stride + 1, (x_pad.shape[3] - k) // stride + 1
    out = np.empty((x.shape[0], f, h_out, w_out))
    for y in range(h_out):
        for x_ in range(w_out):
            window = x_pad[:, :, stride * y:stride * y + k, stride * x_:stride * x_ + k]  # (N, C, k, k)
            out[:, :, y, x_] = np.tensordot(window, weight, axes=([1, 2, 3], [1, 2, 3])) + bias
    return out


def conv_backward(x, weight, stride, padding, dout):
    """(dx, dw, db): each output position's window gets w * dout added to dx_pad, and adds window * dout to dw."""
    k = weight.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(weight)
    for y in range(dout.shape[2]):
        for x_ in range(dout.shape[3]):
            rows, cols = slice(stride * y, stride * y + k), slice(stride * x_, stride * x_ + k)
            dx_pad[:, :, rows, cols] += np.tensordot(dout[:, :, y, x_], weight, axes=(1, 0))
            dw += np.tensordot(dout[:, :, y, x_], x_pad[:, :, rows, cols], axes=(0, 0))
    h, w = x.shape[2:]
    return dx_pad[:, :, padding:padding + h, padding:padding + w], dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_backward(x, kernel_size, stride, dout):
    """(out, dx): each window's maximum, and its upstream gradient added at the window's first arg-max."""
    k, s = kernel_size, stride
    n, c, h, w = x.shape
    out = np.empty((n, c, (h - k) // s + 1, (w - k) // s + 1))
    dx = np.zeros_like(x)
    for index in np.ndindex(out.shape):
        sample, channel, y, x_ = index
        window = x[sample, channel, s * y:s * y + k, s * x_:s * x_ + k]
        i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first maximum in row-major order
        out[index] = window[i, j]
        dx[sample, channel, s * y + i, s * x_ + j] += dout[index]
    return out, dx
