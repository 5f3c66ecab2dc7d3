import unittest

import numpy as np
import torch
import torch.nn.functional as F

from modules import Linear
from tests.gradient_check import numeric_gradient, rel_error


class TestLinear(unittest.TestCase):
    def test_init_matches_contract(self):
        layer = Linear(6, 4)
        np.random.seed(1024)
        np.testing.assert_array_equal(layer.weight, 1e-3 * np.random.randn(6, 4))
        np.testing.assert_array_equal(layer.bias, np.zeros(4))

    def test_init_leaves_numpy_seeded_with_1024_as_the_kit_does(self):
        Linear(6, 4)  # the kit seeds again after drawing the weights: train.py's batches start from that state
        after = np.random.rand(3)
        np.random.seed(1024)
        np.testing.assert_array_equal(after, np.random.rand(3))

    def test_hand_computed(self):
        layer = Linear(2, 1)
        layer.weight, layer.bias = np.array([[2.], [-1.]]), np.array([0.5])
        np.testing.assert_array_equal(layer.forward(np.array([[3., 4.]])), [[2.5]])

    def test_gradients_keep_input_shape(self):
        rng = np.random.default_rng(0)
        for shape in [(3, 5), (2, 3, 4, 2), (4, 1, 3, 3)]:
            with self.subTest(shape=shape):
                in_dim = int(np.prod(shape[1:]))
                layer = Linear(in_dim, 3)
                layer.weight, layer.bias = rng.standard_normal((in_dim, 3)), rng.standard_normal(3)
                x = rng.standard_normal(shape)
                dout = rng.standard_normal((shape[0], 3))
                layer.forward(x)
                layer.backward(dout)
                self.assertEqual(layer.dx.shape, shape)
                f = lambda: layer.forward(x)
                self.assertLess(rel_error(layer.dx, numeric_gradient(f, x, dout)), 1e-7)
                self.assertLess(rel_error(layer.dw, numeric_gradient(f, layer.weight, dout)), 1e-7)
                self.assertLess(rel_error(layer.db, numeric_gradient(f, layer.bias, dout)), 1e-7)

    def test_matches_pytorch(self):
        rng = np.random.default_rng(1)
        layer = Linear(12, 5)
        layer.weight, layer.bias = rng.standard_normal((12, 5)), rng.standard_normal(5)
        x, dout = rng.standard_normal((7, 3, 2, 2)), rng.standard_normal((7, 5))
        out = layer.forward(x)
        layer.backward(dout)
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(layer.weight, requires_grad=True)
        bt = torch.tensor(layer.bias, requires_grad=True)
        out_t = F.linear(xt.flatten(1), wt.T, bt)  # torch stores (out, in); ours is (in, out)
        out_t.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12)
        for ours, theirs in [(layer.dx, xt.grad), (layer.dw, wt.grad), (layer.db, bt.grad)]:
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)

    def test_an_empty_batch(self):
        layer = Linear(12, 3)
        out = layer.forward(np.zeros((0, 3, 2, 2)))
        self.assertEqual(out.shape, (0, 3))
        layer.backward(np.zeros((0, 3)))
        self.assertEqual(layer.dx.shape, (0, 3, 2, 2))
        np.testing.assert_array_equal(layer.dw, np.zeros((12, 3)))
        np.testing.assert_array_equal(layer.db, np.zeros(3))

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"12 features.*\(2, 13\)"):
            Linear(12, 5).forward(np.zeros((2, 13)))


if __name__ == "__main__":
    unittest.main()
