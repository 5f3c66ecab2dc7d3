"""tests/utils.py: the kit's helper names give the gradients they promise, so the kit's own test files can run here
(and these tests hold for the kit's own utils.py, should it be dropped in over ours)."""
import unittest

import numpy as np

from tests import utils


class KitHelpers(unittest.TestCase):
    def test_star_import_gives_the_kit_names(self):
        names = {}
        exec("from tests.utils import *", names)  # as the kit's files import them (relatively)
        self.assertLessEqual({"eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error"}, set(names))

    def test_array_gradient_of_an_elementwise_cube(self):
        rng = np.random.default_rng(0)
        x, df = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
        before = x.copy()
        grad = utils.eval_numerical_gradient_array(lambda a: a ** 3, x, df)
        np.testing.assert_allclose(grad, 3 * before ** 2 * df, rtol=1e-7, atol=1e-9)
        self.assertTrue(np.array_equal(x, before))  # restored

    def test_scalar_gradient_of_a_quadratic_form(self):
        rng = np.random.default_rng(1)
        matrix, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
        grad = utils.eval_numerical_gradient(lambda v: v @ matrix @ v, x)
        np.testing.assert_allclose(grad, (matrix + matrix.T) @ x, rtol=1e-7, atol=1e-9)
        self.assertLess(utils.rel_error(grad, (matrix + matrix.T) @ x), 1e-6)
        self.assertGreater(utils.rel_error(grad, matrix @ x), 0.05)  # a wrong gradient is far off


if __name__ == "__main__":
    unittest.main()
