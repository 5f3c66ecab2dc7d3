"""Problem 1: a single-channel 2-D convolution (no kernel flip, zero padding) written as Y = A X.

X (H x W) and Y (H_out x W_out) are flattened row-major. The structure of A depends only on the sizes, so it is
built once as an integer map (entry = flat kernel index k*i + j, or -1 for a structural zero) and then filled
with numbers or with symbolic names.
"""
import sys
from pathlib import Path

from command_line import before_loading, no_arguments, run

if __name__ == "__main__":
    before_loading("conv_as_matrix.py", {"numpy": "numpy", "torch": "torch"})  # torch: the oracle it checks against

import numpy as np

PROBLEM_CASE = {"in_shape": (3, 3), "kernel_size": 3, "stride": 4, "padding": 2}


def output_size(size, kernel_size, stride, padding):
    """(size + 2p - k) // s + 1, the deep-learning convention; raises ValueError when no window fits."""
    if kernel_size < 1 or stride < 1 or padding < 0:
        raise ValueError(f"need kernel_size >= 1, stride >= 1, padding >= 0; "
                         f"got {kernel_size}, {stride}, {padding}")
    padded = size + 2 * padding
    if padded < kernel_size:
        raise ValueError(f"kernel {kernel_size} does not fit in the padded input of size {padded}")
    return (padded - kernel_size) // stride + 1


def kernel_index_map(in_shape, kernel_size, stride=1, padding=0):
    """(H_out*W_out, H*W) int array: A[o, n] = w.flat[map[o, n]] where map >= 0, and 0 where map == -1."""
    in_h, in_w = in_shape
    out_h = output_size(in_h, kernel_size, stride, padding)
    out_w = output_size(in_w, kernel_size, stride, padding)
    index = np.full((out_h * out_w, in_h * in_w), -1, dtype=int)
    out_i, out_j = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    out_flat = out_i * out_w + out_j
    # Kernel entry (di, dj) of output (i, j) sits on padded pixel (s*i + di, s*j + dj), i.e. input pixel
    # (s*i + di - p, s*j + dj - p); taps that land on the zero border contribute nothing and leave A at 0.
    for di in range(kernel_size):
        for dj in range(kernel_size):
            rows = out_i * stride + di - padding
            cols = out_j * stride + dj - padding
            inside = (rows >= 0) & (rows < in_h) & (cols >= 0) & (cols < in_w)
            index[out_flat[inside], (rows * in_w + cols)[inside]] = di * kernel_size + dj
    return index


def conv_matrix(weight, in_shape, stride=1, padding=0):
    """Numeric A for a square (k, k) kernel, so that A @ x.ravel() == conv2d(x, weight).ravel()."""
    weight = np.asarray(weight, dtype=float)
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight must be a square (k, k) kernel, got shape {weight.shape}")
    index = kernel_index_map(in_shape, weight.shape[0], stride, padding)
    return np.where(index >= 0, weight.ravel()[index], 0.0)


def symbolic_matrix(in_shape, kernel_size, stride=1, padding=0, name="w"):
    """A with entries named after the kernel ('w00' ... 'w22') and '0' for structural zeros."""
    names = np.array([f"{name}{i}{j}" for i in range(kernel_size) for j in range(kernel_size)])
    index = kernel_index_map(in_shape, kernel_size, stride, padding)
    return np.where(index >= 0, names[index], "0")


def unseen_pixels(in_shape, kernel_size, stride=1, padding=0):
    """Flat indices of the input pixels that no output reads (all-zero columns of A)."""
    index = kernel_index_map(in_shape, kernel_size, stride, padding)
    return np.flatnonzero((index < 0).all(axis=0))


def format_matrix(entries):
    """Right-aligned rows in brackets, one line per row of A."""
    width = max(len(e) for e in entries.ravel())
    return "\n".join("[ " + " ".join(e.rjust(width) for e in row) + " ]" for row in entries)


def torch_conv(x, weight, stride, padding):
    """Oracle: torch.nn.functional.conv2d on one (H, W) image and one (k, k) kernel, in float64."""
    import torch
    import torch.nn.functional as F

    out = F.conv2d(torch.as_tensor(x, dtype=torch.float64)[None, None],
                   torch.as_tensor(weight, dtype=torch.float64)[None, None], stride=stride, padding=padding)
    return out[0, 0].numpy()


def load_part1_conv():
    """Part 1's Conv2D class, or None when part1-convnet/modules cannot be imported (it may be unfinished)."""
    part1 = str(Path(__file__).resolve().parent.parent / "part1-convnet")
    added = part1 not in sys.path
    if added:
        sys.path.insert(0, part1)
    try:
        from modules import Conv2D
    except Exception:  # an optional oracle: any import-time failure of a work in progress just skips it
        return None
    finally:
        if added:
            sys.path.remove(part1)
    return Conv2D


def part1_conv(conv_class, x, weight, stride, padding):
    """Oracle: part 1's numpy Conv2D forward on one (H, W) image and one (k, k) kernel."""
    k = weight.shape[0]
    layer = conv_class(1, 1, kernel_size=k, stride=stride, padding=padding)
    layer.weight = np.asarray(weight, dtype=float).reshape(1, 1, k, k)
    layer.bias = np.zeros(1)
    return layer.forward(np.asarray(x, dtype=float)[None, None])[0, 0]


def sweep_cases(count, seed=0, max_size=7, max_kernel=4, max_stride=4, max_padding=3):
    """`count` random valid (in_shape, kernel_size, stride, padding) settings, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        in_shape = tuple(int(v) for v in rng.integers(1, max_size + 1, size=2))
        k = int(rng.integers(1, max_kernel + 1))
        s = int(rng.integers(1, max_stride + 1))
        p = int(rng.integers(0, max_padding + 1))
        if min(in_shape) + 2 * p >= k:
            cases.append({"in_shape": in_shape, "kernel_size": k, "stride": s, "padding": p})
    return cases


def max_error(oracle, cases, seed=1):
    """Largest |A x - oracle(x, w)| over the cases, with random x and w drawn from `seed`."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for case in cases:
        x = rng.standard_normal(case["in_shape"])
        w = rng.standard_normal((case["kernel_size"], case["kernel_size"]))
        a = conv_matrix(w, case["in_shape"], case["stride"], case["padding"])
        expected = oracle(x, w, case["stride"], case["padding"]).ravel()
        worst = max(worst, float(np.abs(a @ x.ravel() - expected).max()))
    return worst


def main():
    no_arguments(__doc__)
    case = PROBLEM_CASE
    (in_h, in_w), k, s, p = case["in_shape"], case["kernel_size"], case["stride"], case["padding"]
    out_h, out_w = output_size(in_h, k, s, p), output_size(in_w, k, s, p)
    a = symbolic_matrix(**case)
    pixel_names = [f"x{i}{j}" for i in range(in_h) for j in range(in_w)]
    print(f"{k}x{k} kernel on a {in_h}x{in_w} input, stride {s}, zero padding {p}")
    print(f"padded input {in_h + 2 * p}x{in_w + 2 * p}, output {out_h}x{out_w}, A is {a.shape[0]}x{a.shape[1]}")
    print(f"Y = A X with X = [{' '.join(pixel_names)}]^T and A =")
    print(format_matrix(a))
    print("input pixels no output sees:", " ".join(pixel_names[n] for n in unseen_pixels(**case)))

    cases = [case] + sweep_cases(40)
    print(f"max |A x - torch conv2d| over {len(cases)} cases: {max_error(torch_conv, cases):.1e}")
    conv_class = load_part1_conv()
    if conv_class is None:
        print("part 1 Conv2D not importable: that check is skipped")
    else:
        err = max_error(lambda x, w, st, pd: part1_conv(conv_class, x, w, st, pd), cases)
        print(f"max |A x - part 1 Conv2D| over {len(cases)} cases: {err:.1e}")


if __name__ == "__main__":
    run(main)
