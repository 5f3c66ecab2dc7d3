import unittest

import numpy as np

from modules import ConvNet
from optimizer import SGD
from optimizer._base_optimizer import _BaseOptimizer


class Layer:
    def __init__(self, weight, bias, dw, db):
        self.weight, self.bias, self.dw, self.db = np.array(weight), np.array(bias), np.array(dw), np.array(db)


class Model:
    def __init__(self, *modules):
        self.modules = list(modules)


class NoParams:
    pass


class TestSGD(unittest.TestCase):
    def test_two_steps_without_regularization(self):
        layer = Layer([1.0, -2.0], [0.5], [0.2, 0.4], [1.0])
        model = Model(NoParams(), layer)
        sgd = SGD(model, learning_rate=0.1, reg=0.0, momentum=0.9)
        sgd.update(model)
        # v1 = -0.1 * g = [-0.02, -0.04]; w1 = [0.98, -2.04]; bias: v1 = -0.1, b1 = 0.4
        np.testing.assert_allclose(layer.weight, [0.98, -2.04])
        np.testing.assert_allclose(layer.bias, [0.4])
        layer.dw, layer.db = np.array([0.2, 0.4]), np.array([1.0])
        sgd.update(model)
        # v2 = 0.9 * v1 - 0.1 * g = [-0.038, -0.076]; w2 = [0.942, -2.116]; bias: v2 = -0.19, b2 = 0.21
        np.testing.assert_allclose(layer.weight, [0.942, -2.116])
        np.testing.assert_allclose(layer.bias, [0.21])

    def test_each_layer_keeps_its_own_velocity(self):
        # two layers of the same shapes and other gradients: a velocity shared by shape or name would mix them
        first, second = Layer([1.0], [0.0], [1.0], [0.0]), Layer([1.0], [0.0], [-2.0], [0.0])
        model = Model(first, NoParams(), second)
        sgd = SGD(model, learning_rate=0.1, reg=0.0, momentum=0.5)
        sgd.update(model)
        sgd.update(model)  # same gradients: v2 = 0.5 * v1 - 0.1 * g = -0.15 * g; w2 = 1 - 0.25 * g
        np.testing.assert_allclose(first.weight, [0.75])
        np.testing.assert_allclose(second.weight, [1.5])

    def test_two_steps_with_l2_on_weights_only(self):
        layer = Layer([1.0], [2.0], [0.0], [0.0])
        model = Model(layer)
        sgd = SGD(model, learning_rate=0.5, reg=0.1, momentum=0.5)
        sgd.update(model)
        # weight grad = 0 + 0.1 * 1 = 0.1 -> v1 = -0.05, w1 = 0.95; the bias has no L2 term, so it stays 2
        np.testing.assert_allclose(layer.weight, [0.95])
        np.testing.assert_allclose(layer.bias, [2.0])
        layer.dw, layer.db = np.array([0.0]), np.array([0.0])
        sgd.update(model)
        # grad = 0.095 -> v2 = 0.5 * -0.05 - 0.5 * 0.095 = -0.0725, w2 = 0.8775
        np.testing.assert_allclose(layer.weight, [0.8775])
        np.testing.assert_allclose(layer.bias, [2.0])

    def test_learning_rate_read_each_step(self):
        layer = Layer([0.0], [0.0], [1.0], [0.0])
        model = Model(layer)
        sgd = SGD(model, learning_rate=1.0, reg=0.0, momentum=0.0)
        sgd.learning_rate = 0.25
        sgd.update(model)
        np.testing.assert_allclose(layer.weight, [-0.25])

    def test_update_before_backward_says_to_run_backward(self):
        model = ConvNet([dict(type="Linear", in_dim=4, out_dim=2)], dict(type="SoftmaxCrossEntropy"))
        weight = model.modules[0].weight.copy()
        with self.assertRaisesRegex(RuntimeError, r"Linear has no gradients yet: run model\.backward\(\) before"):
            SGD(model).update(model)
        np.testing.assert_array_equal(model.modules[0].weight, weight)

    def test_base_defaults_and_regularization(self):
        layer = Layer([2.0], [1.0], [0.0], [0.0])
        base = _BaseOptimizer(Model(layer))
        self.assertEqual((base.learning_rate, base.reg), (1e-4, 1e-3))
        base.apply_regularization(Model(layer, NoParams()))
        np.testing.assert_allclose(layer.dw, [2e-3])
        np.testing.assert_allclose(layer.db, [0.0])
        sgd = SGD(Model())
        self.assertEqual((sgd.learning_rate, sgd.reg, sgd.momentum), (1e-4, 1e-3, 0.9))


if __name__ == "__main__":
    unittest.main()
