import unittest

import torch

from training import learning_rate_at, set_learning_rate


class KitLearningRateRule(unittest.TestCase):
    def assert_table(self, base, warmup, steps, table):
        for epoch, expected in table.items():
            with self.subTest(epoch=epoch):
                self.assertAlmostEqual(learning_rate_at(epoch, base, warmup, steps), expected, places=12)

    def test_no_warmup_steps_6_8(self):  # the kit's configs: 10 epochs
        self.assert_table(0.1, 0, [6, 8], {1: 0.1, 2: 0.1, 5: 0.1, 6: 0.1, 7: 0.01, 8: 0.01, 9: 0.001, 10: 0.001})

    def test_warmup_5_steps_160_180(self):  # the ResNet-32 config
        self.assert_table(0.1, 5, [160, 180], {
            1: 0.02, 2: 0.04, 3: 0.06, 4: 0.08, 5: 0.1, 6: 0.1, 100: 0.1, 160: 0.1,
            161: 0.01, 175: 0.01, 180: 0.01, 181: 0.001, 200: 0.001})

    def test_warmup_outranks_the_steps(self):  # epoch <= warmup is tested first
        self.assert_table(1.0, 4, [2, 3], {1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0, 5: 0.01})

    def test_set_learning_rate_changes_every_group(self):
        a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 5.0}], lr=1.0)
        set_learning_rate(optimizer, 0.3)
        self.assertEqual([group["lr"] for group in optimizer.param_groups], [0.3, 0.3])


class LinearSchedule(unittest.TestCase):
    def test_rise_then_fall_to_zero(self):
        from training import linear_learning_rate_at
        # base 0.2, 1 warm-up epoch, 10 epochs: up to 0.2 at progress 1, then down by 0.2 / 9 per epoch
        table = {0.0: 0.0, 0.5: 0.1, 1.0: 0.2, 5.5: 0.1, 10.0: 0.0}
        for progress, expected in table.items():
            with self.subTest(progress=progress):
                self.assertAlmostEqual(linear_learning_rate_at(progress, 0.2, 1, 10), expected, places=12)
        self.assertAlmostEqual(linear_learning_rate_at(2.0, 0.3, 0, 4), 0.15, places=12)  # no warm-up

    def test_each_batch_takes_the_rate_at_its_middle_and_the_epoch_shows_its_middle_batch(self):
        import argparse
        import main
        args = argparse.Namespace(lr_schedule="linear", learning_rate=0.4, warmup=0, epochs=2)
        shown, rate_at_batch = main.epoch_schedule(args, 2, 4)  # epoch 2 of 2, 4 batches: progress 1.125 .. 1.875
        self.assertEqual([round(rate_at_batch(b), 12) for b in range(4)], [0.175, 0.125, 0.075, 0.025])
        self.assertAlmostEqual(shown, 0.075, places=12)  # batch 2 of 0..3
        self.assertGreater(rate_at_batch(3), 0)  # the last step still learns
        args.lr_schedule, args.steps = "step", [1, 2]
        self.assertEqual(main.epoch_schedule(args, 2, 4), (0.4 * 0.1, None))  # the kit's rule: one rate an epoch


if __name__ == "__main__":
    unittest.main()
