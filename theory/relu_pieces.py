"""Problem 2: the affine piece h(x) = W x + b of a two-hidden-layer ReLU network around a point x0.

h(x) = W3 relu(W2 relu(W1 x + b1) + b2) + b3. Near x0 each ReLU acts as a fixed 0/1 gate D = diag(z > 0), so
W = W3 D2 W2 D1 W1 and b = W3 D2 (W2 D1 b1 + b2) + b3.
"""
import contextlib
import errno
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from command_line import before_loading, no_arguments, run

if __name__ == "__main__":
    before_loading("relu_pieces.py", {"numpy": "numpy", "matplotlib": "matplotlib"})

import numpy as np


class ReluNet(NamedTuple):
    W1: np.ndarray  # (n1, 1)
    b1: np.ndarray  # (n1,)
    W2: np.ndarray  # (n2, n1)
    b2: np.ndarray  # (n2,)
    W3: np.ndarray  # (1, n2)
    b3: np.ndarray  # (1,)


PROBLEM_NET = ReluNet(
    W1=np.array([[1.5], [0.5]]), b1=np.array([0.0, 1.0]),
    W2=np.array([[1.0, 2.0], [2.0, 1.0]]), b2=np.array([0.0, 1.0]),
    W3=np.array([[1.0, 1.0]]), b3=np.array([-1.0]),
)
PROBLEM_POINTS = (2.0, -1.0, 1.0)


class LocalPiece(NamedTuple):
    x0: float
    z1: np.ndarray       # first-layer pre-activations at x0
    z2: np.ndarray       # second-layer pre-activations at x0
    active1: np.ndarray  # bool gates z1 > 0
    active2: np.ndarray  # bool gates z2 > 0
    W: float
    b: float


def h(x, net=PROBLEM_NET):
    """The network on a scalar or an array of scalars (same shape out)."""
    x = np.asarray(x, dtype=float)
    a1 = np.maximum(0.0, x[..., None] * net.W1[:, 0] + net.b1)
    a2 = np.maximum(0.0, a1 @ net.W2.T + net.b2)
    return (a2 @ net.W3.T + net.b3)[..., 0]


def local_affine(x0, net=PROBLEM_NET):
    """Activation pattern at x0 and the scalars W, b of the affine map h agrees with on x0's region."""
    z1 = net.W1[:, 0] * x0 + net.b1
    d1 = np.diag((z1 > 0).astype(float))
    z2 = net.W2 @ d1 @ z1 + net.b2
    d2 = np.diag((z2 > 0).astype(float))
    W = net.W3 @ d2 @ net.W2 @ d1 @ net.W1
    b = net.W3 @ d2 @ (net.W2 @ d1 @ net.b1 + net.b2) + net.b3
    return LocalPiece(float(x0), z1, z2, z1 > 0, z2 > 0, float(W[0, 0]), float(b[0]))


def finite_difference_slope(x0, net=PROBLEM_NET, step=1e-6):
    """Centred difference of h at x0; equals the local W whenever x0 +- step stays in one linear region."""
    return float((h(x0 + step, net) - h(x0 - step, net)) / (2 * step))


def check_piece(piece, net=PROBLEM_NET, tol=1e-6):
    """Raise AssertionError unless W, b reproduce h(x0) and the slope of h at x0."""
    value = float(h(piece.x0, net))
    if abs(piece.W * piece.x0 + piece.b - value) > tol:
        raise AssertionError(f"W x0 + b = {piece.W * piece.x0 + piece.b} but h({piece.x0}) = {value}")
    slope = finite_difference_slope(piece.x0, net)
    if abs(piece.W - slope) > tol:
        raise AssertionError(f"W = {piece.W} but the finite-difference slope at {piece.x0} is {slope}")


FIGURE = Path(__file__).with_name("relu_pieces.png")
LEFTOVER_AGE_S = 3600  # a figure takes a second: a temporary file an hour old is no live run's


class OpenElsewhere(PermissionError):
    """Windows refused to replace the figure: another program (an image viewer) holds it open."""


def replace_when_free(temporary, path, waits=(0.1, 0.2, 0.5, 1, 2)):
    """os.replace; on Windows, which refuses while a viewer holds the old figure open or a virus scanner the new
    one, try again for a few seconds, then raise OpenElsewhere."""
    for wait in (*waits, None):
        try:
            return os.replace(temporary, path)
        except PermissionError as error:
            if os.name != "nt" or (wait is None and not path.is_file()):
                raise
            if wait is None:
                raise OpenElsewhere(error.errno, error.strerror, str(path)) from None
            time.sleep(wait)


def remove_killed_writes(path, age=LEFTOVER_AGE_S):
    """Delete the temporary figures of runs killed outright (SIGKILL, a power cut): <path>.<pid>.tmp older than
    age seconds, since a live run's file is as new as its last write."""
    for leftover in path.parent.glob(f"{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > age:
                leftover.unlink()


def plot_pieces(pieces, path, net=PROBLEM_NET, x_range=(-3.0, 3.0)):
    """h over x_range with the affine line of every piece, saved to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = np.linspace(*x_range, 601)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(xs, h(xs, net), color="silver", linewidth=6, label="h(x)")
    for piece, style in zip(pieces, ["--", ":", "-."]):
        ax.plot(xs, piece.W * xs + piece.b, style, linewidth=1.5,
                label=f"x0={piece.x0:g}: {piece.W:g} x + {piece.b:g}")
        ax.plot(piece.x0, h(piece.x0, net), "o", color="black")
    ax.set_ylim(-3, 22)
    ax.set_xlabel("x")
    ax.set_ylabel("h(x)")
    ax.set_title("ReLU network h and its local affine pieces")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    remove_killed_writes(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # then renamed: never half a figure
    try:
        fig.savefig(temporary, dpi=120, format="png")
        replace_when_free(temporary, path)
    finally:
        plt.close(fig)
        temporary.unlink(missing_ok=True)


def disk_fix(error):
    """What to do about a failed write whose cause is the disk, not permissions: full, read-only, or failing."""
    if error.errno == errno.ENOSPC:
        return "free some disk space"
    if error.errno == errno.EROFS:  # a read-only mount: permissions cannot help
        return "copy the kit to a disk you can write to"
    return "check the disk (it failed to write)"


def main():
    no_arguments(__doc__)
    pieces = [local_affine(x0) for x0 in PROBLEM_POINTS]
    for piece in pieces:
        check_piece(piece)
        print(f"x0={piece.x0:g} W={piece.W:g} b={piece.b:g}")
    try:
        plot_pieces(pieces, FIGURE)
    except OSError as error:  # a folder where the figure goes, a read-only folder
        problem = (f"{FIGURE} is a folder; move it out of the way" if FIGURE.is_dir() else
                   f"{FIGURE} is open in another program; close it there" if isinstance(error, OpenElsewhere) else
                   f"cannot write {FIGURE}: {error.strerror or error}; fix the permissions of {FIGURE.parent}"
                   if isinstance(error, PermissionError) else
                   f"cannot write {FIGURE}: {error.strerror or error}; {disk_fix(error)}")
        print(f"relu_pieces.py: error: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    run(main)
