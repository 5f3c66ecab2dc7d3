import unittest

import numpy as np

from relu_pieces import PROBLEM_NET, ReluNet, check_piece, finite_difference_slope, h, local_affine

# Worked by hand (theory/README.md): z1 = W1 x0 + b1, z2 = W2 relu(z1) + b2, h = W3 relu(z2) + b3.
HAND = {
    2.0: {"z1": [3.0, 2.0], "z2": [7.0, 9.0], "h": 15.0, "W": 6.0, "b": 3.0},
    -1.0: {"z1": [-1.5, 0.5], "z2": [1.0, 1.5], "h": 1.5, "W": 1.5, "b": 3.0},
    1.0: {"z1": [1.5, 1.5], "z2": [4.5, 5.5], "h": 9.0, "W": 6.0, "b": 3.0},
}


def random_net(rng, n1, n2):
    return ReluNet(rng.standard_normal((n1, 1)), rng.standard_normal(n1), rng.standard_normal((n2, n1)),
                   rng.standard_normal(n2), rng.standard_normal((1, n2)), rng.standard_normal(1))


def same_region(x, net, delta=1e-4):
    """True when the activation pattern is constant on [x - delta, x + delta] (x is away from every kink)."""
    patterns = [local_affine(v, net) for v in (x - delta, x, x + delta)]
    return all(np.array_equal(p.active1, patterns[1].active1) and np.array_equal(p.active2, patterns[1].active2)
               for p in patterns)


class TestProblemPoints(unittest.TestCase):
    def test_hand_values(self):
        for x0, hand in HAND.items():
            with self.subTest(x0=x0):
                piece = local_affine(x0)
                np.testing.assert_allclose(piece.z1, hand["z1"])
                np.testing.assert_allclose(piece.z2, hand["z2"])
                self.assertAlmostEqual(float(h(x0)), hand["h"], places=12)
                self.assertAlmostEqual(piece.W, hand["W"], places=12)
                self.assertAlmostEqual(piece.b, hand["b"], places=12)

    def test_activation_patterns(self):
        self.assertEqual(local_affine(2.0).active1.tolist(), [True, True])
        self.assertEqual(local_affine(2.0).active2.tolist(), [True, True])
        self.assertEqual(local_affine(-1.0).active1.tolist(), [False, True])
        self.assertEqual(local_affine(-1.0).active2.tolist(), [True, True])
        self.assertEqual(local_affine(1.0).active1.tolist(), [True, True])

    def test_regions_of_h(self):
        # Hand-derived: h = 0 for x <= -2, 1.5 x + 3 on [-2, 0], 6 x + 3 for x >= 0.
        xs = np.linspace(-5, 5, 201)
        expected = np.where(xs <= -2, 0.0, np.where(xs <= 0, 1.5 * xs + 3, 6 * xs + 3))
        np.testing.assert_allclose(h(xs), expected, atol=1e-12)


class TestEdges(unittest.TestCase):
    def test_at_a_kink_a_gate_at_zero_is_off_and_the_piece_is_the_left_one(self):
        piece = local_affine(0.0)  # z1 = W1 0 + b1 = [0, 1]: the first unit sits on its kink
        self.assertEqual(piece.active1.tolist(), [False, True])
        left_slope = float((h(0.0) - h(-1e-6)) / 1e-6)
        self.assertAlmostEqual(piece.W, left_slope, places=5)
        self.assertAlmostEqual(piece.W * 0.0 + piece.b, float(h(0.0)), places=12)

    def test_the_check_refuses_a_wrong_slope_or_offset(self):
        piece = local_affine(2.0)
        check_piece(piece)  # right: no error
        tilted = piece._replace(W=piece.W + 1e-3, b=piece.b - 1e-3 * piece.x0)  # the value at x0, another slope
        for wrong in (tilted, piece._replace(b=piece.b + 1e-3)):
            with self.subTest(wrong=wrong), self.assertRaises(AssertionError):
                check_piece(wrong)


class TestLocalAffineGeneral(unittest.TestCase):
    def check_points(self, net, xs):
        checked = 0
        for x0 in xs:
            if not same_region(x0, net):
                continue
            piece = local_affine(x0, net)
            self.assertAlmostEqual(piece.W * x0 + piece.b, float(h(x0, net)), places=9)
            self.assertAlmostEqual(piece.W, finite_difference_slope(x0, net), places=5)
            # The same affine map also holds a small step away, inside the region.
            self.assertAlmostEqual(piece.W * (x0 + 5e-5) + piece.b, float(h(x0 + 5e-5, net)), places=9)
            checked += 1
        return checked

    def test_problem_net_random_points(self):
        xs = np.random.default_rng(0).uniform(-5, 5, 200)
        self.assertGreater(self.check_points(PROBLEM_NET, xs), 190)

    def test_random_nets(self):
        rng = np.random.default_rng(1)
        checked = 0
        for _ in range(20):
            net = random_net(rng, int(rng.integers(1, 6)), int(rng.integers(1, 6)))
            checked += self.check_points(net, rng.uniform(-4, 4, 20))
        self.assertGreater(checked, 300)


if __name__ == "__main__":
    unittest.main()
