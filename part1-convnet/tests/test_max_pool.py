import unittest

import numpy as np
import torch
import torch.nn.functional as F

from modules import MaxPooling
from modules._parallel import set_thread_count, thread_count
from tests import reference_layers
from tests.gradient_check import numeric_gradient, rel_error


def pytorch_pool(x, k, s, dout):
    """PyTorch's max-pooling of x and its gradient for dout, as numpy arrays: the oracle."""
    xt = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, int(k), int(s))
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()

class TestMaxPooling(unittest.TestCase):
    def test_hand_computed(self):
        x = np.array([[[[1., 5., 2., 0.],
                        [3., 4., 8., 1.],
                        [0., 0., 1., 1.],
                        [9., 2., 3., 7.]]]])
        pool = MaxPooling(kernel_size=2, stride=2)
        np.testing.assert_array_equal(pool.forward(x), [[[[5., 8.], [9., 7.]]]])
        pool.backward(np.array([[[[10., 20.], [30., 40.]]]]))
        expected = np.zeros_like(x)
        expected[0, 0, 0, 1], expected[0, 0, 1, 2], expected[0, 0, 3, 0], expected[0, 0, 3, 3] = 10, 20, 30, 40
        np.testing.assert_array_equal(pool.dx, expected)

    def test_float32_in_float32_out_both_ways(self):
        x = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
        pool = MaxPooling(kernel_size=2, stride=2)
        out = pool.forward(x)
        pool.backward(np.ones_like(out))
        self.assertEqual((out.dtype, pool.dx.dtype), (np.float32, np.float32))
        self.assertEqual(pool.dx.sum(), out.size)  # one unit of gradient at each window's maximum

    def test_gradients_match_finite_differences(self):
        rng = np.random.default_rng(0)
        # (shape, kernel, stride): overlapping windows (stride < k), gaps (stride > k), leftover rows and columns
        for shape, k, s in [((2, 3, 4, 4), 2, 2), ((2, 2, 7, 5), 3, 2), ((1, 3, 9, 8), 2, 3), ((3, 1, 5, 6), 3, 1)]:
            with self.subTest(shape=shape, k=k, s=s):
                pool = MaxPooling(kernel_size=k, stride=s)
                x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1  # distinct values: the arg-max is unique
                out = pool.forward(x)
                self.assertEqual(out.shape, shape[:2] + ((shape[2] - k) // s + 1, (shape[3] - k) // s + 1))
                dout = rng.standard_normal(out.shape)
                pool.backward(dout)
                self.assertLess(rel_error(pool.dx, numeric_gradient(lambda: pool.forward(x), x, dout)), 1e-7)

    def test_matches_pytorch_on_random_shapes(self):
        rng = np.random.default_rng(1)
        for _ in range(25):
            k, s = rng.integers(1, 5), rng.integers(1, 4)
            n, c = rng.integers(1, 4), rng.integers(1, 4)
            h, w = rng.integers(k, 14, size=2)
            with self.subTest(n=n, c=c, h=h, w=w, k=k, s=s):
                pool = MaxPooling(kernel_size=k, stride=s)
                x = rng.standard_normal((n, c, h, w))
                out = pool.forward(x)
                dout = rng.standard_normal(out.shape)
                pool.backward(dout)
                xt = torch.tensor(x, requires_grad=True)
                out_t = F.max_pool2d(xt, int(k), int(s))
                out_t.backward(torch.tensor(dout))
                np.testing.assert_array_equal(out, out_t.detach().numpy())
                np.testing.assert_allclose(pool.dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)

    def test_offsets_at_the_edge_of_their_integer_type_match_pytorch(self):
        # a window's farthest offset, (k - 1) * w + k - 1, is 255 for k 2, w 254 and 256 for w 255: uint8 no more
        rng = np.random.default_rng(3)
        for k, w in ((2, 254), (2, 255), (3, 127), (3, 128)):
            with self.subTest(k=k, w=w):
                x = rng.standard_normal((1, 1, k, w))
                pool = MaxPooling(kernel_size=k, stride=k)
                out = pool.forward(x)
                dout = rng.standard_normal(out.shape)
                pool.backward(dout)
                out_t, dx_t = pytorch_pool(x, k, k, dout)
                np.testing.assert_array_equal(out, out_t)
                np.testing.assert_array_equal(pool.dx, dx_t)

    def test_ties_route_to_the_first_maximum_like_pytorch(self):
        # After a ReLU whole windows are 0: the gradient must go to one pixel per window, not to all of them.
        x = np.zeros((1, 2, 5, 5))
        x[0, 1, 1:3, 1:3] = 1.0
        for k, s in [(2, 2), (3, 2), (2, 1)]:
            with self.subTest(k=k, s=s):
                pool = MaxPooling(k, s)
                dout = np.arange(1.0, 1 + pool.forward(x).size).reshape(pool.forward(x).shape)
                pool.backward(dout)
                xt = torch.tensor(x, requires_grad=True)
                F.max_pool2d(xt, k, s).backward(torch.tensor(dout))
                np.testing.assert_array_equal(pool.dx, xt.grad.numpy())

    def test_nans_take_the_gradient_as_in_pytorch(self):
        # A diverged input: PyTorch routes a window's gradient to its last NaN, wherever the window's maximum is.
        rng = np.random.default_rng(4)
        for dtype in (np.float64, np.float32):
            for k, s in [(2, 2), (3, 2), (2, 1), (3, 3)]:
                with self.subTest(dtype=dtype.__name__, k=k, s=s):
                    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
                    x[rng.random(x.shape) < 0.15] = np.nan  # some windows with none, some with one or several
                    pool = MaxPooling(k, s)
                    out = pool.forward(x)
                    dout = rng.standard_normal(out.shape).astype(dtype)
                    pool.backward(dout)
                    xt = torch.tensor(x, requires_grad=True)
                    out_t = F.max_pool2d(xt, k, s)
                    out_t.backward(torch.tensor(dout))
                    np.testing.assert_array_equal(out, out_t.detach().numpy())  # NaN where torch has NaN
                    np.testing.assert_allclose(pool.dx, xt.grad.numpy(), rtol=1e-6, atol=1e-6)

    def test_matches_the_plain_loops(self):
        rng = np.random.default_rng(3)
        for shape, k, s in [((2, 3, 7, 9), 3, 2), ((2, 2, 8, 8), 2, 2), ((1, 2, 9, 7), 2, 3), ((2, 1, 6, 6), 3, 1)]:
            with self.subTest(shape=shape, k=k, s=s):
                x = np.maximum(rng.standard_normal(shape), 0)  # ReLU output: many tied windows
                pool = MaxPooling(k, s)
                out = pool.forward(x)
                dout = rng.standard_normal(out.shape)
                pool.backward(dout)
                out_ref, dx_ref = reference_layers.max_pool_forward_backward(x, k, s, dout)
                np.testing.assert_array_equal(out, out_ref)
                np.testing.assert_allclose(pool.dx, dx_ref, rtol=1e-13, atol=1e-13)

    def test_batches_split_over_threads_match_pytorch(self):
        # Large enough for modules/_parallel.py to split the samples into three parts of unequal size.
        self.addCleanup(set_thread_count, thread_count())
        set_thread_count(3)
        rng = np.random.default_rng(2)
        for shape, k, s in [((7, 8, 64, 64), 2, 2), ((7, 8, 63, 65), 3, 2), ((5, 8, 64, 64), 2, 3)]:
            with self.subTest(shape=shape, k=k, s=s):
                x = np.maximum(rng.standard_normal(shape), 0)  # ReLU output: many tied windows
                pool = MaxPooling(k, s)
                out = pool.forward(x)
                dout = rng.standard_normal(out.shape)
                pool.backward(dout)
                out_t, dx_t = pytorch_pool(x, k, s, dout)
                np.testing.assert_array_equal(out, out_t)
                # overlapping windows add up in another order than PyTorch's: equal to rounding
                np.testing.assert_allclose(pool.dx, dx_t, rtol=1e-12, atol=1e-12)
                self.assertEqual(np.count_nonzero(pool.dx), np.count_nonzero(dx_t))  # same winners

    def test_wide_rows_whose_offsets_pass_255_match_pytorch(self):
        # the arg-max is kept as an offset i*w + j from its window's corner: 601 here, more than a byte holds
        x = np.random.default_rng(5).standard_normal((1, 1, 2, 600))
        pool = MaxPooling(2, 2)
        out = pool.forward(x)
        dout = np.random.default_rng(6).standard_normal(out.shape)
        pool.backward(dout)
        xt = torch.tensor(x, requires_grad=True)
        out_t = F.max_pool2d(xt, 2, 2)
        out_t.backward(torch.tensor(dout))
        np.testing.assert_array_equal(out, out_t.detach().numpy())
        np.testing.assert_array_equal(pool.dx, xt.grad.numpy())

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"4-D.*\(4, 4\)"):
            MaxPooling(2, 2).forward(np.zeros((4, 4)))

    def test_backward_refuses_a_gradient_of_another_shape(self):
        # the same number of values in another shape would be routed to the wrong windows
        pool = MaxPooling(2, 2)
        pool.forward(np.zeros((2, 3, 4, 6)))
        for shape in ((2, 3, 3, 2), (1, 3, 2, 3), (12, 3)):
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(ValueError, rf"shape \(2, 3, 2, 3\), got \({shape[0]}, {shape[1]}"):
                    pool.backward(np.ones(shape))
                self.assertIsNone(pool.dx)

    def test_kernel_and_stride_below_one_are_refused_at_construction(self):
        for kernel_size, stride in ((0, 2), (2, 0), (-1, 1)):
            with self.subTest(kernel_size=kernel_size, stride=stride):
                with self.assertRaisesRegex(ValueError, f"MaxPooling needs kernel_size >= 1, stride >= 1.*"
                                                        f"got kernel_size {kernel_size}, stride {stride}"):
                    MaxPooling(kernel_size, stride)


if __name__ == "__main__":
    unittest.main()
