import os
import unittest

import numpy as np

from conv_as_matrix import (PROBLEM_CASE, conv_matrix, kernel_index_map, load_part1_conv, max_error,
                            output_size, part1_conv, sweep_cases, symbolic_matrix, torch_conv, unseen_pixels)

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PART1_MODULES = os.path.join(REPOSITORY, "part1-convnet", "modules")


class TestAgainstConvolution(unittest.TestCase):
    def test_problem_case_matches_torch(self):
        self.assertLess(max_error(torch_conv, [PROBLEM_CASE] * 5, seed=3), 1e-12)

    def test_random_sweep_matches_torch(self):
        cases = sweep_cases(60, seed=7)
        self.assertGreater(len({c["stride"] for c in cases}), 3)  # the sweep really varies the settings
        self.assertGreater(len({c["padding"] for c in cases}), 3)
        rng = np.random.default_rng(11)
        for case in cases:
            with self.subTest(**case):
                x = rng.standard_normal(case["in_shape"])
                w = rng.standard_normal((case["kernel_size"],) * 2)
                a = conv_matrix(w, case["in_shape"], case["stride"], case["padding"])
                expected = torch_conv(x, w, case["stride"], case["padding"])
                self.assertEqual(a.shape, (expected.size, x.size))
                np.testing.assert_allclose(a @ x.ravel(), expected.ravel(), rtol=0, atol=1e-12)

    def test_kernel_is_not_flipped(self):
        # One window covering the whole 3x3 input: y = sum_ij w_ij x_ij, so A's only row is w in reading order
        # (a flipped, signal-processing convolution would give it reversed).
        w = np.arange(9.0).reshape(3, 3)
        np.testing.assert_array_equal(conv_matrix(w, (3, 3)), w.reshape(1, 9))

    @unittest.skipUnless(os.path.isdir(PART1_MODULES), "part1-convnet/modules is not beside theory/")
    def test_matches_part1_conv2d(self):
        conv_class = load_part1_conv()  # None for a part 1 that does not import: a failure here, not a skip
        self.assertIsNotNone(conv_class, f"{PART1_MODULES} is there, but its Conv2D cannot be imported")
        err = max_error(lambda x, w, s, p: part1_conv(conv_class, x, w, s, p), [PROBLEM_CASE] + sweep_cases(20))
        self.assertLess(err, 1e-12)


class TestProblemStructure(unittest.TestCase):
    def test_sizes(self):
        self.assertEqual(output_size(3, 3, 4, 2), 2)
        self.assertEqual(symbolic_matrix(**PROBLEM_CASE).shape, (4, 9))

    def test_entries_by_hand(self):
        # Padded 7x7 input; the windows start at padded rows/cols 0 and 4, so each output sees one corner pixel.
        expected = np.full((4, 9), "0", dtype=object)
        expected[0, 0] = "w22"  # y00 = w22 x00
        expected[1, 2] = "w20"  # y01 = w20 x02
        expected[2, 6] = "w02"  # y10 = w02 x20
        expected[3, 8] = "w00"  # y11 = w00 x22
        np.testing.assert_array_equal(symbolic_matrix(**PROBLEM_CASE), expected.astype(str))

    def test_unseen_pixels(self):
        np.testing.assert_array_equal(unseen_pixels(**PROBLEM_CASE), [1, 3, 4, 5, 7])

    def test_stride_one_toeplitz_row(self):
        a = symbolic_matrix((4, 4), 3, stride=1, padding=0)
        self.assertEqual(a.shape, (4, 16))
        self.assertEqual(list(a[0]), ["w00", "w01", "w02", "0", "w10", "w11", "w12", "0",
                                      "w20", "w21", "w22", "0", "0", "0", "0", "0"])
        self.assertEqual(list(a[3]), ["0"] * 5 + ["w00", "w01", "w02", "0", "w10", "w11", "w12", "0",
                                                  "w20", "w21", "w22"])
        self.assertEqual(len(unseen_pixels((4, 4), 3)), 0)

    def test_each_row_uses_each_kernel_entry_at_most_once(self):
        for case in sweep_cases(20, seed=5):
            index = kernel_index_map(**case)
            for row in index:
                used = row[row >= 0]
                self.assertEqual(len(used), len(set(used.tolist())))

    def test_bad_settings_raise(self):
        with self.assertRaises(ValueError):
            kernel_index_map((2, 2), 5, stride=1, padding=1)
        with self.assertRaises(ValueError):
            kernel_index_map((3, 3), 3, stride=0, padding=0)
        with self.assertRaises(ValueError):
            conv_matrix(np.ones((2, 3)), (3, 3))
        with self.assertRaises(ValueError):  # no negative padding (it would crop)
            output_size(5, 3, 1, -1)


if __name__ == "__main__":
    unittest.main()
