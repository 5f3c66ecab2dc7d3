import unittest

import numpy as np

from modules import ConvNet, Conv2D, Linear, MaxPooling, ReLU
from tests.gradient_check import numeric_gradient, rel_error

LAYERS = [
    dict(type="Conv2D", in_channels=3, out_channels=4, kernel_size=3, stride=1, padding=1),
    dict(type="ReLU"),
    dict(type="MaxPooling", kernel_size=2, stride=2),
    dict(type="Conv2D", in_channels=4, out_channels=2, kernel_size=3, stride=2, padding=1),
    dict(type="ReLU"),
    dict(type="Linear", in_dim=2 * 2 * 2, out_dim=5),
]
CRITERION = dict(type="SoftmaxCrossEntropy")


class TestConvNet(unittest.TestCase):
    def test_builds_modules_in_order(self):
        model = ConvNet(LAYERS, CRITERION)
        self.assertEqual([type(m) for m in model.modules], [Conv2D, ReLU, MaxPooling, Conv2D, ReLU, Linear])
        self.assertEqual((model.modules[3].stride, model.modules[3].padding), (2, 1))

    def test_whole_network_gradients(self):
        rng = np.random.default_rng(0)
        model = ConvNet(LAYERS, CRITERION)
        for m in model.modules:
            if hasattr(m, "weight"):
                m.weight = rng.standard_normal(m.weight.shape) * 0.5
                m.bias = rng.standard_normal(m.bias.shape) * 0.1
        x, y = rng.standard_normal((3, 3, 8, 6)), np.array([0, 3, 4])
        probs, loss = model.forward(x, y)
        self.assertEqual(probs.shape, (3, 5))
        model.backward()
        loss_of = lambda: np.array(model.forward(x, y)[1])
        one = np.array(1.0)
        self.assertLess(rel_error(model.modules[0].dx, numeric_gradient(loss_of, x, one)), 1e-7)
        for m in model.modules:
            if hasattr(m, "weight"):
                self.assertLess(rel_error(m.dw, numeric_gradient(loss_of, m.weight, one)), 1e-7)
                self.assertLess(rel_error(m.db, numeric_gradient(loss_of, m.bias, one)), 1e-7)

    def test_unknown_types_are_named(self):
        with self.assertRaisesRegex(ValueError, "'Dropout'"):
            ConvNet([dict(type="Dropout")], CRITERION)
        with self.assertRaisesRegex(ValueError, "'MSE'"):
            ConvNet(LAYERS, dict(type="MSE"))

    def test_a_conv2d_dict_without_stride_or_padding_takes_the_defaults(self):
        model = ConvNet([dict(type="Conv2D", in_channels=3, out_channels=4, kernel_size=3)], CRITERION)
        self.assertEqual((model.modules[0].stride, model.modules[0].padding), (1, 0))
        with self.assertRaisesRegex(ValueError, "a Conv2D layer needs in_channels"):
            ConvNet([dict(type="Conv2D", out_channels=4)], CRITERION)

    def test_a_misspelt_argument_is_named_not_replaced_by_its_default(self):
        for layer, key, meant in [(dict(type="Conv2D", in_channels=3, out_channels=4, kernal_size=5), "kernal_size",
                                   "kernel_size"),
                                  (dict(type="Conv2D", in_channels=3, out_channels=4, pad=1), "pad", "padding"),
                                  (dict(type="MaxPooling", kernel_size=2, strides=2), "strides", "stride"),
                                  (dict(type="Linear", in_dim=3, output_dim=2), "output_dim", "out_dim")]:
            with self.subTest(key=key):
                with self.assertRaisesRegex(ValueError, f"takes no '{key}'; did you mean '{meant}'"):
                    ConvNet([layer], CRITERION)
        # keys that resemble no argument are ignored, as the kit's ConvNet ignores them
        model = ConvNet([dict(type="Linear", in_dim=3, out_dim=2, name="fc1"), dict(type="ReLU", inplace=True)],
                        CRITERION)
        self.assertEqual((model.modules[0].in_dim, model.modules[0].out_dim), (3, 2))

    def test_wrong_containers_say_what_was_expected(self):
        with self.assertRaisesRegex(TypeError, "modules is a list of layer dicts .* got a dict"):
            ConvNet(dict(type="ReLU"), CRITERION)
        with self.assertRaisesRegex(TypeError, "each layer is a dict .* got a str: 'ReLU'"):
            ConvNet(["ReLU"], CRITERION)
        with self.assertRaisesRegex(TypeError, "criterion is a dict.* got a str: 'SoftmaxCrossEntropy'"):
            ConvNet(LAYERS, "SoftmaxCrossEntropy")

    def test_modules_print_nothing(self):
        import contextlib
        import io
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            model = ConvNet(LAYERS, CRITERION)
            model.forward(np.zeros((2, 3, 8, 6)), np.array([0, 1]))
            model.backward()
        self.assertEqual(buffer.getvalue(), "")


if __name__ == "__main__":
    unittest.main()
