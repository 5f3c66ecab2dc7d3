import math
import unittest

import torch
import torch.nn.functional as F

from losses import LOSS_BUILDERS, FocalLoss, SigmoidFocalLoss, init_prior_bias, reweight

WEIGHTS = torch.tensor([0.2, 0.5, 1.3, 2.0, 1.0], dtype=torch.float64)


def skewed_batch(seed=0, n=40, classes=5, scale=3.0):
    """Logits and mostly-class-0 labels (a long tail, as the focal losses are meant for)."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=generator, dtype=torch.float64) * scale
    first_class = torch.rand(n, generator=generator) < 0.6
    labels = torch.where(first_class, 0, torch.randint(1, classes, (n,), generator=generator))
    return logits, labels


def softmax_focal_by_hand(logits, labels, weights, gamma):
    numerator = denominator = 0.0
    for row, label in zip(logits.tolist(), labels.tolist()):
        p = math.exp(row[label]) / sum(math.exp(v) for v in row)
        w = 1.0 if weights is None else float(weights[label])
        numerator += -w * (1 - p) ** gamma * math.log(p)
        denominator += w
    return numerator / denominator


def sigmoid_focal_by_hand(logits, labels, weights, gamma):
    numerator = denominator = 0.0
    for row, label in zip(logits.tolist(), labels.tolist()):
        w = 1.0 if weights is None else float(weights[label])
        for c, z in enumerate(row):
            p = 1 / (1 + math.exp(-z if c == label else z))  # probability of the right binary answer
            numerator += -w * (1 - p) ** gamma * math.log(p)
        denominator += w
    return numerator / denominator


class Reweight(unittest.TestCase):
    def test_hand_computed_values(self):
        cases = {  # beta, counts: weights by hand from (1 - beta) / (1 - beta^n), scaled to sum to C
            (0.9, (1, 2, 3)): [1.582847, 0.833077, 0.584076],
            (0.5, (1, 1, 2)): [1.125, 1.125, 0.75],
            (0.99, (100, 10, 1)): [0.042237, 0.280044, 2.677719],
            (0.0, (5000, 50, 7)): [1.0, 1.0, 1.0],
            (0.9999, (5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50)):
                [0.050611, 0.0769, 0.121134, 0.195037, 0.318805, 0.52459, 0.868349, 1.442627, 2.409223, 3.992724],
        }
        for (beta, counts), expected in cases.items():
            with self.subTest(beta=beta):
                weights = reweight(list(counts), beta)
                self.assertEqual((weights.dtype, tuple(weights.shape)), (torch.float32, (len(counts),)))
                torch.testing.assert_close(weights, torch.tensor(expected), atol=2e-6, rtol=0)
                self.assertAlmostEqual(weights.sum().item(), len(counts), places=5)

    def test_default_beta_is_0_9999(self):
        torch.testing.assert_close(reweight([5000, 500, 50]), reweight([5000, 500, 50], 0.9999))

    def test_rejects_what_has_no_weight(self):
        for beta, counts in ((1.0, [5, 5]), (-0.1, [5, 5]), (0.9, [5, 0]), (0.9, []), (0.9, 5), (0.9, [[5, 5]])):
            with self.subTest(beta=beta, counts=counts), self.assertRaises(ValueError):
                reweight(counts, beta)


class SoftmaxFocalLoss(unittest.TestCase):
    def test_matches_the_formula(self):
        logits, labels = skewed_batch()
        for gamma in (0.0, 0.5, 1.0, 2.0, 5.0):
            for weights in (None, WEIGHTS):
                with self.subTest(gamma=gamma, weighted=weights is not None):
                    got = FocalLoss(weight=weights, gamma=gamma)(logits, labels).item()
                    self.assertAlmostEqual(got, softmax_focal_by_hand(logits, labels, weights, gamma), places=10)

    def test_gamma_0_is_weighted_cross_entropy(self):
        logits, labels = skewed_batch(seed=1)
        for weights in (None, WEIGHTS):
            torch.testing.assert_close(FocalLoss(weights)(logits, labels),
                                       F.cross_entropy(logits, labels, weight=weights))
        torch.testing.assert_close(LOSS_BUILDERS["Focal"](WEIGHTS, 0.0)(logits, labels),
                                   LOSS_BUILDERS["CE"](WEIGHTS, 0.0)(logits, labels))

    def test_focusing_lowers_the_loss_of_easy_examples_most(self):
        logits = torch.tensor([[4.0, 0.0], [0.2, 0.0]])
        labels = torch.tensor([0, 0])
        per_sample = [FocalLoss(gamma=2.0)(logits[i:i + 1], labels[i:i + 1])
                      / F.cross_entropy(logits[i:i + 1], labels[i:i + 1])
                      for i in range(2)]
        self.assertLess(per_sample[0], 0.01)  # p = 0.98: (1 - p)^2 ~ 3e-4
        self.assertGreater(per_sample[1], 0.2)

    def test_gradients_by_finite_differences(self):
        logits, labels = skewed_batch(seed=2, n=12)
        for gamma in (0.5, 2.0):
            loss = FocalLoss(weight=WEIGHTS, gamma=gamma)
            self.assertTrue(torch.autograd.gradcheck(lambda x: loss(x, labels), (logits.requires_grad_(),)))

    def test_stable_at_huge_logits(self):
        logits = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], requires_grad=True)
        labels = torch.tensor([0, 0])  # right with certainty, wrong with certainty
        for gamma in (0.0, 0.5, 2.0, 1000.0):  # 1000: the most a config allows
            with self.subTest(gamma=gamma):
                loss = FocalLoss(weight=WEIGHTS.float()[:3], gamma=gamma)(logits, labels)
                loss.backward()
                self.assertAlmostEqual(loss.item(), 2e4 * 0.2 / 0.4, delta=1.0)  # (0 * w0 + 2e4 * w0) / (2 w0)
                self.assertTrue(torch.isfinite(logits.grad).all())
                logits.grad = None

    def test_negative_or_infinite_gamma_is_refused(self):
        for gamma in (-0.5, math.inf, math.nan):
            for loss in (FocalLoss, SigmoidFocalLoss):
                with self.subTest(gamma=gamma, loss=loss.__name__), self.assertRaises(ValueError):
                    loss(gamma=gamma)

    def test_weights_may_be_a_plain_list_or_array(self):
        logits, labels = skewed_batch(seed=2)
        for loss in (FocalLoss, SigmoidFocalLoss):
            expected = loss(WEIGHTS.float(), gamma=2.0)(logits, labels)
            for weights in (WEIGHTS.tolist(), WEIGHTS.numpy()):
                with self.subTest(loss=loss.__name__, given=type(weights).__name__):
                    torch.testing.assert_close(loss(weights, gamma=2.0)(logits, labels), expected)

    def test_weights_follow_the_module_to_a_device(self):
        self.assertIn("weight", dict(FocalLoss(WEIGHTS).named_buffers()))


class SigmoidFocal(unittest.TestCase):
    def test_matches_the_formula(self):
        logits, labels = skewed_batch(seed=3)
        for gamma in (0.0, 0.5, 2.0):
            for weights in (None, WEIGHTS):
                with self.subTest(gamma=gamma, weighted=weights is not None):
                    got = SigmoidFocalLoss(weight=weights, gamma=gamma)(logits, labels).item()
                    self.assertAlmostEqual(got, sigmoid_focal_by_hand(logits, labels, weights, gamma), places=10)

    def test_gamma_0_unit_weights_is_binary_cross_entropy_summed_over_classes(self):
        logits, labels = skewed_batch(seed=4)
        targets = F.one_hot(labels, 5).double()
        expected = 5 * F.binary_cross_entropy_with_logits(logits, targets)
        torch.testing.assert_close(SigmoidFocalLoss()(logits, labels), expected)
        torch.testing.assert_close(SigmoidFocalLoss(torch.ones(5, dtype=torch.float64))(logits, labels), expected)

    def test_gradients_by_finite_differences(self):
        logits, labels = skewed_batch(seed=5, n=12)
        loss = SigmoidFocalLoss(weight=WEIGHTS, gamma=0.5)
        self.assertTrue(torch.autograd.gradcheck(lambda x: loss(x, labels), (logits.requires_grad_(),)))

    def test_stable_at_huge_logits(self):
        logits = torch.tensor([[1e4, -1e4, -1e4], [-1e4, 1e4, -1e4]], requires_grad=True)
        labels = torch.tensor([0, 0])
        for gamma in (0.0, 0.5, 2.0, 1000.0):
            loss = SigmoidFocalLoss(gamma=gamma)(logits, labels)
            loss.backward()
            self.assertAlmostEqual(loss.item(), (0 + 2e4) / 2, delta=1.0)  # sample 2 is wrong twice, by 1e4 each
            self.assertTrue(torch.isfinite(logits.grad).all())
            logits.grad = None

    def test_prior_bias_starts_every_class_at_probability_one_over_c(self):
        layer = init_prior_bias(torch.nn.Linear(8, 10))
        torch.testing.assert_close(layer.bias, torch.full((10,), -math.log(9.0)))
        torch.testing.assert_close(torch.sigmoid(layer.bias), torch.full((10,), 0.1))

    def test_a_sigmoid_focal_run_starts_its_output_layer_alone_at_the_prior(self):
        import argparse
        import main
        for loss_type in ("SigmoidFocal", "Focal"):
            with self.subTest(loss_type=loss_type):
                torch.manual_seed(0)
                model = main.build_model(argparse.Namespace(model="TwoLayerNet", loss_type=loss_type,
                                                            channels_last=False), "cpu")
                torch.manual_seed(0)
                fresh = main.MODEL_BUILDERS["TwoLayerNet"]()
                layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
                fresh_layers = [m for m in fresh.modules() if isinstance(m, torch.nn.Linear)]
                self.assertGreater(len(layers), 1)
                for layer, untouched in zip(layers[:-1], fresh_layers):  # the hidden layers as built
                    torch.testing.assert_close(layer.bias, untouched.bias)
                prior = torch.full((10,), -math.log(9.0))
                if loss_type == "SigmoidFocal":
                    torch.testing.assert_close(layers[-1].bias, prior)
                else:
                    torch.testing.assert_close(layers[-1].bias, fresh_layers[-1].bias)


if __name__ == "__main__":
    unittest.main()
