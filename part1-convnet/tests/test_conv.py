import os
import re
import subprocess
import sys
import unittest
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from modules import Conv2D, _autotune
from modules._parallel import can_limit_blas, set_thread_count, thread_count
from modules.convolution import plans
from tests import reference_layers
from tests.gradient_check import numeric_gradient, rel_error

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (N, C, H, W, F, kernel, stride, padding): odd and non-square shapes, strides > 1, padding > kernel // 2
GRAD_CASES = [
    (2, 3, 5, 5, 2, 3, 1, 0), (2, 2, 7, 6, 3, 3, 2, 1), (1, 3, 6, 9, 2, 5, 1, 2),
    (3, 1, 8, 5, 2, 2, 3, 3), (2, 2, 5, 7, 1, 1, 2, 0), (1, 2, 9, 9, 2, 4, 3, 1),
    (2, 2, 3, 4, 2, 5, 2, 2),  # a kernel larger than the unpadded input
]


def make_conv(c, f, k, s, p, rng):
    conv = Conv2D(c, f, kernel_size=k, stride=s, padding=p)
    conv.weight = rng.standard_normal((f, c, k, k))
    conv.bias = rng.standard_normal(f)
    return conv


def pytorch_conv(conv, x, dout):
    """PyTorch's output and gradients (dx, dw, db) for conv's weights on x, given the output's gradient dout."""
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(conv.weight, requires_grad=True)
    bt = torch.tensor(conv.bias, requires_grad=True)
    out = F.conv2d(xt, wt, bt, stride=int(conv.stride), padding=int(conv.padding))
    out.backward(torch.tensor(dout))
    return [t.detach().numpy() for t in (out, xt.grad, wt.grad, bt.grad)]


class TestConv2D(unittest.TestCase):
    def test_init_matches_contract(self):
        conv = Conv2D(3, 4, kernel_size=5, stride=2, padding=1)
        self.assertEqual((conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding),
                         (3, 4, 5, 2, 1))
        np.random.seed(1024)
        np.testing.assert_array_equal(conv.weight, 1e-3 * np.random.randn(4, 3, 5, 5))
        np.testing.assert_array_equal(conv.bias, np.zeros(4))
        self.assertIsNone(conv.cache)
        self.assertIsNone(conv.dx)

    def test_hand_computed_output(self):
        # A 1x1x3x3 ramp convolved with a 2x2 kernel [[1, 0], [0, -1]]: each output is x[i, j] - x[i+1, j+1] = -4.
        conv = Conv2D(1, 1, kernel_size=2)
        conv.weight = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
        conv.bias = np.array([0.5])
        out = conv.forward(np.arange(9.0).reshape(1, 1, 3, 3))
        np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -3.5))

    def test_gradients_match_finite_differences(self):
        rng = np.random.default_rng(0)
        for n, c, h, w, f, k, s, p in GRAD_CASES:
            with self.subTest(shape=(n, c, h, w), f=f, k=k, s=s, p=p):
                conv = make_conv(c, f, k, s, p, rng)
                x = rng.standard_normal((n, c, h, w))
                out = conv.forward(x)
                self.assertEqual(out.shape, (n, f, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1))
                dout = rng.standard_normal(out.shape)
                conv.backward(dout)
                self.assertLess(rel_error(conv.dx, numeric_gradient(lambda: conv.forward(x), x, dout)), 1e-7)
                self.assertLess(rel_error(conv.dw, numeric_gradient(lambda: conv.forward(x), conv.weight, dout)), 1e-7)
                self.assertLess(rel_error(conv.db, numeric_gradient(lambda: conv.forward(x), conv.bias, dout)), 1e-7)

    def test_matches_pytorch_on_random_shapes(self):
        rng = np.random.default_rng(1)
        kernel_beyond_input = 0
        for _ in range(25):
            k, s, p = rng.integers(1, 6), rng.integers(1, 4), rng.integers(0, 4)
            h, w = rng.integers(max(1, k - 2 * p), 14, size=2)  # from the smallest input the padding lets through
            n, c, f = rng.integers(1, 4), rng.integers(1, 5), rng.integers(1, 5)
            kernel_beyond_input += k > min(h, w)
            with self.subTest(n=n, c=c, h=h, w=w, f=f, k=k, s=s, p=p):
                conv = make_conv(c, f, k, s, p, rng)
                x = rng.standard_normal((n, c, h, w))
                out = conv.forward(x)
                dout = rng.standard_normal(out.shape)
                conv.backward(dout)
                for ours, theirs in zip((out, conv.dx, conv.dw, conv.db), pytorch_conv(conv, x, dout)):
                    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
        self.assertGreater(kernel_beyond_input, 1)  # the draws do reach that case

    def test_inf_and_nan_inputs_give_what_pytorch_gives(self):
        # The fast layout multiplies unused columns past each output row, which read real pixels: an inf there
        # must not turn dW into NaN (0 * inf) or make the forward product warn.
        rng = np.random.default_rng(5)
        for k, s, p, w, where in [(3, 2, 0, 8, "unread"), (2, 2, 0, 9, "unread"), (3, 1, 1, 8, "read"),
                                  (3, 2, 1, 8, "read")]:
            # 1e308: finite, but its sums overflow (the sum-based check takes the safe path, which must agree)
            for bad in (np.inf, -np.inf, np.nan) + ((1e308,) if where == "unread" else ()):
                with self.subTest(k=k, s=s, p=p, where=where, bad=bad):
                    conv = make_conv(2, 3, k, s, p, rng)
                    x = rng.standard_normal((2, 2, 7, w))
                    x[0, 1, :, -1] = bad  # the last column: unless padded, (w - k) % s == 1 leaves it unread
                    if where == "read":
                        x[1, 0, 3, 2] = bad
                    with warnings.catch_warnings():
                        warnings.simplefilter("error" if where == "unread" else "ignore")
                        out = conv.forward(x)
                        dout = rng.standard_normal(out.shape)
                        conv.backward(dout)
                    for ours, theirs in zip((out, conv.dx, conv.dw, conv.db), pytorch_conv(conv, x, dout)):
                        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)

    def test_every_plan_matches_the_plain_loops(self):
        # modules/_autotune.py may pick any plan: each must give the plain computation's result.
        self.addCleanup(_autotune.force, _autotune.force(None))
        self.addCleanup(set_thread_count, thread_count())
        rng = np.random.default_rng(2)
        for n, c, h, w, f, k, s, p in [(7, 3, 9, 11, 4, 4, 2, 1), (5, 2, 8, 8, 3, 3, 1, 1), (6, 3, 10, 7, 2, 5, 1, 2)]:
            conv = make_conv(c, f, k, s, p, rng)
            x = rng.standard_normal((n, c, h, w))
            out_ref = reference_layers.conv_forward(x, conv.weight, conv.bias, s, p)
            dout = rng.standard_normal(out_ref.shape)
            dx_ref, dw_ref, db_ref = reference_layers.conv_backward(x, conv.weight, s, p, dout)
            # one thread, and three in unequal shares with BLAS held to one thread and (without threadpoolctl) not
            set_thread_count(1)
            candidates = plans(n)
            set_thread_count(3)
            candidates += plans(n) + [(2, 3, None)]
            for plan in candidates:
                with self.subTest(shape=(n, c, h, w), f=f, k=k, s=s, p=p, plan=plan):
                    _autotune.force(plan)
                    np.testing.assert_allclose(conv.forward(x), out_ref, rtol=1e-12, atol=1e-12)
                    conv.backward(dout)
                    np.testing.assert_allclose(conv.dx, dx_ref, rtol=1e-12, atol=1e-12)
                    np.testing.assert_allclose(conv.dw, dw_ref, rtol=1e-12, atol=1e-12)
                    np.testing.assert_allclose(conv.db, db_ref, rtol=1e-12, atol=1e-12)

    def test_layers_with_same_sized_buffers_do_not_read_each_others_data(self):
        self.check_layers_with_same_sized_buffers_alternately()

    def test_layers_with_same_sized_buffers_under_one_plan_do_not_share_them(self):
        # the timed choice may give the two layers chunks of other sizes, so buffers of other shapes: pin it
        self.addCleanup(_autotune.force, _autotune.force(None))
        for plan in ((2, 1, None), (1, 1, None)):
            with self.subTest(plan=plan):
                _autotune.force(plan)
                self.check_layers_with_same_sized_buffers_alternately()

    def check_layers_with_same_sized_buffers_alternately(self):
        # 3x8x8 padded by 1 and 3x10x10 unpadded give planes of one shape, data where the other has padding;
        # each thread keeps its work buffers between calls (modules/_scratch.py), so they must not be shared
        rng = np.random.default_rng(3)
        layers = [(make_conv(3, 2, 3, 1, 1, rng), rng.standard_normal((2, 3, 8, 8))),
                  (make_conv(3, 2, 3, 1, 0, rng), rng.standard_normal((2, 3, 10, 10)))]
        for round_ in range(2):
            for conv, x in layers:
                with self.subTest(round=round_, padding=conv.padding):
                    out_ref = reference_layers.conv_forward(x, conv.weight, conv.bias, 1, conv.padding)
                    np.testing.assert_allclose(conv.forward(x), out_ref, rtol=1e-12, atol=1e-12)
                    dout = rng.standard_normal(out_ref.shape)
                    conv.backward(dout)
                    dx_ref, dw_ref, _ = reference_layers.conv_backward(x, conv.weight, 1, conv.padding, dout)
                    np.testing.assert_allclose(conv.dx, dx_ref, rtol=1e-12, atol=1e-12)
                    np.testing.assert_allclose(conv.dw, dw_ref, rtol=1e-12, atol=1e-12)

    def test_float32_input_with_float64_weights_gives_float64_like_the_reference(self):
        conv = make_conv(2, 3, 3, 1, 1, np.random.default_rng(9))
        x = np.random.default_rng(10).standard_normal((2, 2, 5, 6)).astype(np.float32)
        out = conv.forward(x)
        self.assertEqual(out.dtype, np.float64)
        np.testing.assert_allclose(out, reference_layers.conv_forward(x.astype(np.float64), conv.weight, conv.bias,
                                                                      1, 1), rtol=1e-12, atol=1e-12)

    def test_float64_gradient_after_a_float32_input_gives_float64_gradients(self):
        conv = make_conv(2, 3, 3, 2, 1, np.random.default_rng(11))
        x = np.random.default_rng(12).standard_normal((2, 2, 7, 6)).astype(np.float32)
        dout = np.random.default_rng(13).standard_normal(conv.forward(x).shape)
        conv.backward(dout)
        self.assertEqual((conv.dx.dtype, conv.dw.dtype, conv.db.dtype), (np.float64,) * 3)
        dx_ref, dw_ref, db_ref = reference_layers.conv_backward(x.astype(np.float64), conv.weight, 2, 1, dout)
        for ours, reference in ((conv.dx, dx_ref), (conv.dw, dw_ref), (conv.db, db_ref)):
            np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)

    def test_plans_without_threadpoolctl_keep_blas_threads(self):
        # threadpoolctl is optional: where it cannot be imported, no plan limits BLAS and the threads still share
        script = ("import sys; sys.modules['threadpoolctl'] = None\n"
                  "from modules._parallel import set_thread_count\n"
                  "from modules.convolution import plans\n"
                  "set_thread_count(2); print(sorted({plan[1:] for plan in plans(8)}, key=str))")
        result = subprocess.run([sys.executable, "-c", script], cwd=PART1, capture_output=True, text=True,
                                timeout=120, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout.strip(), "[(1, None), (2, None)]")
        self.addCleanup(set_thread_count, thread_count())
        set_thread_count(2)
        expected = {(1, None), (2, 1)} if can_limit_blas() else {(1, None), (2, None)}
        self.assertEqual({plan[1:] for plan in plans(8)}, expected)
        set_thread_count(1)
        self.assertEqual({plan[1:] for plan in plans(8)}, {(1, None)})

    @unittest.skipUnless(can_limit_blas(), "threadpoolctl is not installed")
    def test_blas_limit_lasts_only_for_the_call(self):
        from threadpoolctl import threadpool_info
        def blas_threads():
            return [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"]
        self.addCleanup(_autotune.force, _autotune.force(None))
        self.addCleanup(set_thread_count, thread_count())
        set_thread_count(2)
        before = blas_threads()
        conv = make_conv(2, 3, 3, 1, 1, np.random.default_rng(7))
        _autotune.force((2, 2, 1))
        conv.backward(conv.forward(np.random.default_rng(8).standard_normal((4, 2, 6, 5))))
        self.assertEqual(blas_threads(), before)

    def test_the_first_calls_time_each_plan_then_one_is_kept(self):
        conv = make_conv(2, 3, 3, 1, 1, np.random.default_rng(3))
        x = np.random.default_rng(4).standard_normal((4, 2, 6, 5))
        expected = reference_layers.conv_forward(x, conv.weight, conv.bias, 1, 1)

        def forward_keys():
            return [key for key in _autotune.winners() if key[0] == "Conv2D.forward" and key[1] == x.shape]
        for call in range(len(plans(4)) * _autotune.ROUNDS):
            self.assertEqual(forward_keys(), [], f"chosen before call {call + 1}")
            np.testing.assert_allclose(conv.forward(x), expected, rtol=1e-12, atol=1e-12)
        self.assertEqual(len(forward_keys()), 1)
        self.assertIn(_autotune.winners()[forward_keys()[0]], plans(4))
        np.testing.assert_allclose(conv.forward(x), expected, rtol=1e-12, atol=1e-12)  # with the plan kept

    def test_new_thread_count_is_timed_again(self):
        # a plan chosen for two threads may use both; after set_thread_count(1) it must be chosen again
        self.addCleanup(set_thread_count, thread_count())
        conv = make_conv(2, 3, 3, 1, 1, np.random.default_rng(5))
        x = np.random.default_rng(6).standard_normal((4, 2, 7, 5))
        for threads in (2, 1):
            set_thread_count(threads)
            for _ in range(len(plans(4)) * _autotune.ROUNDS):
                conv.forward(x)
        chosen = {key[-1]: plan for key, plan in _autotune.winners().items()
                  if key[0] == "Conv2D.forward" and key[1] == x.shape}
        self.assertEqual(set(chosen), {1, 2})
        self.assertEqual(chosen[1][1], 1)

    def test_an_empty_batch_gives_empty_outputs_and_zero_gradients_like_pytorch(self):
        conv = Conv2D(3, 2, kernel_size=3, stride=2, padding=1)
        out = conv.forward(np.zeros((0, 3, 5, 5)))
        expected = F.conv2d(torch.zeros(0, 3, 5, 5, dtype=torch.float64), torch.tensor(conv.weight), stride=2,
                            padding=1)
        self.assertEqual(out.shape, tuple(expected.shape))
        conv.backward(np.zeros(out.shape))
        self.assertEqual(conv.dx.shape, (0, 3, 5, 5))
        np.testing.assert_array_equal(conv.dw, np.zeros_like(conv.weight))
        np.testing.assert_array_equal(conv.db, np.zeros_like(conv.bias))

    def test_backward_refuses_a_gradient_of_another_shape(self):
        # (1, 2, 6, 6) would broadcast over the batch, and (2, 2, 3, 12) holds as many numbers in the wrong places
        conv = Conv2D(3, 2, kernel_size=3, padding=1)
        conv.forward(np.zeros((2, 3, 6, 6)))
        for shape in ((1, 2, 6, 6), (2, 2, 3, 12), (2, 2, 6, 7)):
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(ValueError, rf"shape \(2, 2, 6, 6\), got {re.escape(str(shape))}"):
                    conv.backward(np.ones(shape))
                self.assertIsNone(conv.dx)

    def test_window_arguments_are_checked_at_construction(self):
        for arguments in (dict(padding=-1), dict(stride=0), dict(kernel_size=0)):
            with self.subTest(**arguments):
                with self.assertRaisesRegex(ValueError, "kernel_size >= 1, stride >= 1 and padding >= 0"):
                    Conv2D(3, 2, **arguments)

    def test_bad_inputs_name_the_shapes(self):
        conv = Conv2D(3, 2, kernel_size=3)
        with self.assertRaisesRegex(ValueError, r"4-D.*\(3, 8, 8\)"):
            conv.forward(np.zeros((3, 8, 8)))
        with self.assertRaisesRegex(ValueError, r"3 input channels.*\(1, 4, 8, 8\)"):
            conv.forward(np.zeros((1, 4, 8, 8)))
        with self.assertRaisesRegex(ValueError, "larger than"):
            conv.forward(np.zeros((1, 3, 2, 2)))


if __name__ == "__main__":
    unittest.main()
