import unittest
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from modules import SoftmaxCrossEntropy
from tests.gradient_check import numeric_gradient, rel_error


class TestSoftmaxCrossEntropy(unittest.TestCase):
    def test_hand_computed(self):
        # Scores [0, ln 3] give probabilities [1/4, 3/4]; the loss for labels [1, 0] is (-ln 3/4 - ln 1/4) / 2.
        ce = SoftmaxCrossEntropy()
        probs, loss = ce.forward(np.array([[0., np.log(3)], [0., np.log(3)]]), np.array([1, 0]))
        np.testing.assert_allclose(probs, [[0.25, 0.75], [0.25, 0.75]])
        self.assertAlmostEqual(loss, -(np.log(0.75) + np.log(0.25)) / 2, places=12)
        ce.backward()
        np.testing.assert_allclose(ce.dx, [[0.125, -0.125], [-0.375, 0.375]])

    def test_labels_as_a_list_or_tuple(self):
        scores = np.array([[0., np.log(3)], [0., np.log(3)]])
        for labels in ([1, 0], (1, 0)):
            with self.subTest(labels=labels):
                ce = SoftmaxCrossEntropy()
                _, loss = ce.forward(scores, labels)
                self.assertAlmostEqual(loss, -(np.log(0.75) + np.log(0.25)) / 2, places=12)
                ce.backward()
                np.testing.assert_allclose(ce.dx, [[0.125, -0.125], [-0.375, 0.375]])

    def test_stable_for_large_scores(self):
        probs, loss = SoftmaxCrossEntropy().forward(np.array([[1000., 0.], [-1000., 1000.]]), np.array([0, 0]))
        self.assertTrue(np.all(np.isfinite(probs)))
        self.assertAlmostEqual(loss, 1000.0, places=6)

    def test_scores_beyond_floats_range_apart_give_probability_0_without_a_warning(self):
        ce = SoftmaxCrossEntropy()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's overflow warning would be printed mid-training
            probs, loss = ce.forward(np.array([[1e308, -1e308], [-1e308, 1e308]]), np.array([0, 0]))
            ce.backward()
        np.testing.assert_array_equal(probs, [[1.0, 0.0], [0.0, 1.0]])
        self.assertEqual(loss, np.inf)  # the second sample's true loss, 2e308, is past float's range
        np.testing.assert_array_equal(ce.dx, [[0.0, 0.0], [-0.5, 0.5]])

    def test_labels_outside_the_classes_are_refused(self):
        # -1 would silently pick the last class's score; 3 of 3 classes would index past the row
        scores = np.zeros((3, 3))
        for labels, shown in (([0, -1, 2], "-1..2"), ([0, 3, 1], "0..3")):
            with self.subTest(labels=labels):
                with self.assertRaisesRegex(ValueError, rf"0\.\.2 for 3 classes, got labels {shown}"):
                    SoftmaxCrossEntropy().forward(scores, np.array(labels))

    def test_labels_that_are_not_integers_are_refused(self):
        # floats fail deep in numpy's indexing; booleans would select rows as a mask, in silence
        for labels in (np.array([1.0, 0.0, 2.0]), np.array([True, False, True]), ["1", "0", "2"]):
            with self.subTest(dtype=np.asarray(labels).dtype):
                with self.assertRaisesRegex(ValueError, "labels are class indices \\(integers\\), got .* labels"):
                    SoftmaxCrossEntropy().forward(np.zeros((3, 3)), labels)

    def test_an_empty_batch_is_nan_without_a_warning_as_in_pytorch(self):
        ce = SoftmaxCrossEntropy()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            probs, loss = ce.forward(np.zeros((0, 4)), [])
            ce.backward()
        self.assertTrue(np.isnan(loss))
        self.assertEqual((probs.shape, ce.dx.shape), ((0, 4), (0, 4)))
        self.assertTrue(torch.isnan(torch.nn.functional.cross_entropy(torch.zeros(0, 4), torch.zeros(0).long())))

    def test_gradient_and_pytorch(self):
        rng = np.random.default_rng(0)
        for n, c in [(5, 3), (16, 10), (1, 7)]:
            with self.subTest(n=n, c=c):
                ce = SoftmaxCrossEntropy()
                x, y = rng.standard_normal((n, c)) * 3, rng.integers(0, c, n)
                probs, loss = ce.forward(x, y)
                ce.backward()
                numeric = numeric_gradient(lambda: np.array(ce.forward(x, y)[1]), x, np.array(1.0))
                self.assertLess(rel_error(ce.dx, numeric), 1e-7)
                xt = torch.tensor(x, requires_grad=True)
                loss_t = F.cross_entropy(xt, torch.tensor(y))
                loss_t.backward()
                self.assertAlmostEqual(loss, loss_t.item(), places=12)
                np.testing.assert_allclose(probs, torch.softmax(xt, 1).detach().numpy(), rtol=1e-12)
                np.testing.assert_allclose(ce.dx, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


if __name__ == "__main__":
    unittest.main()
