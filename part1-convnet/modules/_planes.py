"""The memory layout Conv2D's im2col reads from, chosen so that every copy is a long contiguous run.

Each sample's zero-padded input is split into s*s phases, phase (a, b) holding the pixels x_pad[s*u + a, s*v + b]
(one phase when s = 1), and each channel of a phase is stored as a plane `width` pixels wide, one output row's
worth of taps wider than the output. Kernel offset (i, j) then reads phase (i % s, j % s) at the constant flat
distance (i // s) * width + j // s from each output pixel: one output row is `width` consecutive numbers, and a
whole sample's columns for that offset, all channels included, are the single run
sample[offset : offset + C*plane_size]. So im2col is k*k copies of C*plane_size numbers per sample (rather than
C*k*k*H_out rows of W_out), and col2im the same k*k adds. The price: each output row has `width - W_out` unused
columns (4-13% more columns in the matrix products on the bench's shapes, which multiply junk in the forward and
zeros in backward, and are cut off).
Per sample, in each phase (`sample_length` numbers): C planes, then `tail` zeros so that the last plane's junk
reads stay inside the sample.
"""
import numpy as np

from ._windows import output_size


def _phase_slices(size, padding, stride, phase, length):
    """(destination, source) slices along one axis: phase pixel u (of `length`) is input pixel s*u + phase - p,
    for those u where that pixel exists; the rest stay zero (padding)."""
    first = max(0, -(-(padding - phase) // stride))
    last = min(length, (size - 1 + padding - phase) // stride + 1)
    if last <= first:
        return slice(0, 0), slice(0, 0)
    start = stride * first + phase - padding
    return slice(first, last), slice(start, start + stride * (last - first - 1) + 1, stride)


class Planes:
    """Where each sample's padded, phase-split channels lie in a chunk's buffer, for one input shape and window
    (the module's docstring draws it); scatter/gather move pixels in and out, im2col/col2im columns."""

    def __init__(self, x_shape, kernel_size, stride, padding):
        _, c, h, w = x_shape
        k, s, p = kernel_size, stride, padding
        self.x_shape, self.stride, self.padding = x_shape, s, p
        self.key = (x_shape[1:], k, s, p)  # what decides where a sample's planes hold data (modules/_scratch.py)
        self.out_shape = (output_size(h + 2 * p, k, s, "Conv2D"), output_size(w + 2 * p, k, s, "Conv2D"))
        reach = (k - 1) // s  # phase pixels a kernel spans beyond its first, per axis
        self.height, self.width = self.out_shape[0] + reach, self.out_shape[1] + reach
        self.plane_size = self.height * self.width
        self.columns_per_sample = self.out_shape[0] * self.width  # output rows `width` wide
        tail = reach * self.width + reach
        self.sample_length = c * self.plane_size + tail
        # per kernel offset (i, j), in the order of the weight's (i, j) axes: (phase, flat distance)
        self.offsets = [((i % s) * s + j % s, (i // s) * self.width + j // s) for i in range(k) for j in range(k)]

    def _phases(self, buffer):
        """A view of buffer (s*s, n, sample_length) as (s, s, N, C, height, width), tails left out."""
        c, s = self.x_shape[1], self.stride
        return buffer[:, :, :c * self.plane_size].reshape(s, s, buffer.shape[1], c, self.height, self.width)

    def _slices(self):
        """(phase a, phase b, destination rows, destination columns, source rows, source columns)."""
        h, w = self.x_shape[2:]
        s, p = self.stride, self.padding
        for a in range(s):
            rows_to, rows_from = _phase_slices(h, p, s, a, self.height)
            for b in range(s):
                cols_to, cols_from = _phase_slices(w, p, s, b, self.width)
                yield a, b, rows_to, cols_to, rows_from, cols_from

    def buffer_shape(self, samples):
        """The planes' array shape for `samples` samples: (s*s, samples, sample_length)."""
        return (self.stride ** 2, samples, self.sample_length)

    def scatter(self, x, buffer):
        """Write x (n, C, H, W) into its planes, buffer (s*s, n, sample_length); the padding's places are left as
        they are (zero in a buffer that only this layout writes)."""
        phases = self._phases(buffer)
        for a, b, rows_to, cols_to, rows_from, cols_from in self._slices():
            phases[a, b, :, :, rows_to, cols_to] = x[:, :, rows_from, cols_from]

    def gather(self, buffer, dx):
        """The inverse of scatter: planes (s*s, n, sample_length) -> dx (n, C, H, W); input pixels that no window
        touches are left as they are."""
        phases = self._phases(buffer)
        for a, b, rows_to, cols_to, rows_from, cols_from in self._slices():
            dx[:, :, rows_from, cols_from] = phases[a, b, :, :, rows_to, cols_to]

    def im2col(self, planes, cols):
        """cols (n, k*k, C*plane_size) = for each kernel offset, the run of the planes (s*s, n, sample_length)
        that it reads."""
        run = self.x_shape[1] * self.plane_size
        for index, (phase, distance) in enumerate(self.offsets):
            cols[:, index] = planes[phase, :, distance:distance + run]

    def col2im(self, dcols, dplanes):
        """Adjoint of im2col, in place: add each offset's run of dcols (n, k*k, C*plane_size) into dplanes (s*s, n,
        sample_length). Windows overlap when s < k, so the adds accumulate."""
        run = self.x_shape[1] * self.plane_size
        for index, (phase, distance) in enumerate(self.offsets):
            target = dplanes[phase, :, distance:distance + run]
            np.add(target, dcols[:, index], out=target)

    def clear_junk(self, cols):
        """Zero the unused columns past each output row in cols (n, k*k*C, plane_size). They read real pixels, which
        only matters when one is inf or NaN: 0 * inf is NaN in dW, and the forward product warns."""
        h_out, w_out = self.out_shape
        cols[:, :, :self.columns_per_sample].reshape(cols.shape[0], cols.shape[1], h_out, self.width)[..., w_out:] = 0
