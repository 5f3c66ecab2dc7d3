import unittest

import numpy as np
import torch

from modules import ReLU
from tests.gradient_check import numeric_gradient, rel_error


class TestReLU(unittest.TestCase):
    def test_hand_computed(self):
        relu = ReLU()
        np.testing.assert_array_equal(relu.forward(np.array([[-2., 0., 3.]])), [[0., 0., 3.]])
        relu.backward(np.array([[5., 6., 7.]]))
        np.testing.assert_array_equal(relu.dx, [[0., 0., 7.]])

    def test_gradient_and_pytorch(self):
        rng = np.random.default_rng(0)
        for shape in [(4, 7), (2, 3, 5, 4)]:
            with self.subTest(shape=shape):
                relu = ReLU()
                x = rng.standard_normal(shape)
                x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
                dout = rng.standard_normal(shape)
                out = relu.forward(x)
                relu.backward(dout)
                self.assertLess(rel_error(relu.dx, numeric_gradient(lambda: relu.forward(x), x, dout)), 1e-7)
                xt = torch.tensor(x, requires_grad=True)
                torch.relu(xt).backward(torch.tensor(dout))
                np.testing.assert_array_equal(out, torch.relu(xt).detach().numpy())
                np.testing.assert_array_equal(relu.dx, xt.grad.numpy())

    def test_a_nan_input_passes_its_gradient_on_as_in_pytorch(self):
        x = np.array([np.nan, -1.0, 0.0, 2.0, np.nan])
        dout = np.array([1.0, 1.0, 1.0, 1.0, np.inf])
        relu = ReLU()
        out = relu.forward(x)
        relu.backward(dout)
        xt = torch.tensor(x, requires_grad=True)
        torch.relu(xt).backward(torch.tensor(dout))
        np.testing.assert_array_equal(out, torch.relu(xt).detach().numpy())  # [nan, 0, 0, 2, nan]
        np.testing.assert_array_equal(relu.dx, xt.grad.numpy())  # [1, 0, 0, 1, inf]

    def test_an_inf_or_nan_gradient_stops_where_the_input_was_not_positive_as_in_pytorch(self):
        for dtype in (np.float64, np.float32):
            with self.subTest(dtype=dtype.__name__):
                relu = ReLU()
                x = np.array([-1.0, 0.0, 2.0, 3.0, -4.0, 5.0], dtype)
                dout = np.array([np.inf, np.nan, -np.inf, np.nan, -np.inf, 1.0], dtype)
                relu.forward(x)
                relu.backward(dout)
                xt = torch.tensor(x, requires_grad=True)
                torch.relu(xt).backward(torch.tensor(dout))
                np.testing.assert_array_equal(relu.dx, xt.grad.numpy())  # [0, 0, -inf, nan, 0, 1]
                self.assertEqual(relu.dx.dtype, dtype)


if __name__ == "__main__":
    unittest.main()
