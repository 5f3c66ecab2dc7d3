import contextlib
import inspect
import io
import unittest

import numpy as np

from modules import ConvNet
from optimizer import SGD
from trainer import ClassifierTrainer


def small_model():
    return ConvNet([dict(type="Linear", in_dim=12, out_dim=3)], dict(type="SoftmaxCrossEntropy"))


class CountingSGD(SGD):
    def __init__(self, model, **kwargs):
        super().__init__(model, **kwargs)
        self.updates = 0

    def update(self, model):
        self.updates += 1
        super().update(model)


class TestClassifierTrainer(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.y = rng.integers(0, 3, 53)
        # class c lights up channel c: linearly separable, so a working trainer must fit it
        self.X = 0.3 * rng.standard_normal((53, 3, 2, 2)) + 2.0 * np.eye(3)[self.y][:, :, None, None]

    def test_iterations_decay_and_history_lengths(self):
        model = small_model()
        optimizer = CountingSGD(model, learning_rate=0.05, reg=0.0)
        loss_history, acc_history = ClassifierTrainer().train(
            self.X, self.y, model, learning_rate_decay=0.5, num_epochs=4, batch_size=10, optimizer=optimizer)
        # 53 // 10 = 5 iterations per epoch; accuracy on the first iteration and after each of the 4 epochs
        self.assertEqual(optimizer.updates, 20)
        self.assertEqual(len(loss_history), 20)
        self.assertEqual(len(acc_history), 5)
        self.assertAlmostEqual(optimizer.learning_rate, 0.05 * 0.5 ** 4)
        self.assertGreater(acc_history[-1], 0.8)
        self.assertLess(np.mean(loss_history[-5:]), np.mean(loss_history[:5]))

    def test_acc_frequency_and_full_batches(self):
        model = small_model()
        _, acc_history = ClassifierTrainer().train(self.X, self.y, model, num_epochs=2, batch_size=10,
                                                   acc_frequency=2, optimizer=SGD(model))
        # iterations 0..9: every even one (5) plus the two epoch ends (4 and 9; 4 is already counted) -> 6
        self.assertEqual(len(acc_history), 6)
        model = small_model()
        loss_history, acc_history = ClassifierTrainer().train(self.X, self.y, model, sample_batches=False,
                                                              num_epochs=3, optimizer=SGD(model))
        # one iteration per epoch: iteration 0 is both the first and an epoch end, so it records once
        self.assertEqual((len(loss_history), len(acc_history)), (3, 3))

    def test_unusable_sizes_are_one_clear_error_before_any_update(self):
        for arguments, fragment in ((dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
                                    (dict(batch_size=2.5), "batch_size must be an integer >= 1, got 2.5"),
                                    (dict(acc_frequency=0), "acc_frequency must be an integer >= 1, got 0"),
                                    (dict(X=self.X[:0], y=self.y[:0]), "got 0 images and 0 labels"),
                                    (dict(y=self.y[:10]), "got 53 images and 10 labels")):
            with self.subTest(arguments={k: getattr(v, "shape", v) for k, v in arguments.items()}):
                model = small_model()
                optimizer = CountingSGD(model)
                data = {"X": self.X, "y": self.y, **arguments}
                with self.assertRaisesRegex(ValueError, fragment.replace(".", r"\.")):
                    ClassifierTrainer().train(data.pop("X"), data.pop("y"), model, optimizer=optimizer, **data)
                self.assertEqual(optimizer.updates, 0)
        model = small_model()  # batch_size is unused on full batches, as in the kit
        ClassifierTrainer().train(self.X, self.y, model, sample_batches=False, batch_size=None, num_epochs=1,
                                  optimizer=SGD(model))

    def test_one_iteration_an_epoch_decays_after_the_first_only(self):
        """The kit's trainer decays at epoch ends with `it > 0`: iteration 0 never decays, even when it ends an
        epoch (sample_batches=False, or N < 2 * batch_size)."""
        for options in (dict(sample_batches=False), dict(batch_size=30)):  # 53 // 30 = 1 iteration an epoch
            with self.subTest(**options):
                model = small_model()
                optimizer = SGD(model, learning_rate=1.0, reg=0.0)
                ClassifierTrainer().train(self.X, self.y, model, learning_rate_decay=0.5, num_epochs=3,
                                          optimizer=optimizer, **options)
                self.assertEqual(optimizer.learning_rate, 0.25)

    def test_defaults_are_the_kits(self):
        parameters = inspect.signature(ClassifierTrainer.train).parameters.values()
        self.assertEqual({p.name: p.default for p in parameters if p.default is not p.empty},
                         dict(learning_rate_decay=0.95, sample_batches=True, num_epochs=30, batch_size=100,
                              acc_frequency=None, verbose=False, optimizer=None))

    def forwards_seen(self, X, y, seed=0, **options):
        """The inputs of every model.forward call of a training run that starts with np.random.seed(seed)."""
        model, seen = small_model(), []  # (building it seeds numpy too)
        forward = model.forward
        model.forward = lambda X_in, y_in: seen.append(X_in.copy()) or forward(X_in, y_in)
        np.random.seed(seed)
        ClassifierTrainer().train(X, y, model, optimizer=SGD(model), **options)
        return seen

    def test_batches_are_np_random_choice_draws_with_replacement(self):
        X = np.arange(53, dtype=float)[:, None, None, None] * np.ones((1, 3, 2, 2))  # row i holds i
        seen = self.forwards_seen(X, self.y, seed=5, num_epochs=1, batch_size=10)
        batches = [inputs[:, 0, 0, 0].astype(int) for inputs in seen if len(inputs) == 10]
        np.random.seed(5)
        expected = [np.random.choice(53, 10) for _ in range(5)]
        np.testing.assert_array_equal(batches, expected)

    def test_accuracy_uses_every_sample_up_to_1000_then_1000_drawn(self):
        rng = np.random.default_rng(1)
        for n, expected_rows in ((1000, 1000), (1500, 1000)):
            with self.subTest(n=n):
                X, y = rng.standard_normal((n, 3, 2, 2)), rng.integers(0, 3, n)
                seen = self.forwards_seen(X, y, num_epochs=1, batch_size=500)
                accuracy_passes = [inputs for inputs in seen if len(inputs) != 500]
                self.assertEqual([len(inputs) for inputs in accuracy_passes], [expected_rows] * 2)
                if n == 1000:  # all of X, in order: no draw
                    np.testing.assert_array_equal(accuracy_passes[0], X)

    def test_verbose_prints_one_line_per_record(self):
        model = small_model()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            ClassifierTrainer().train(self.X, self.y, model, num_epochs=2, batch_size=10, verbose=True,
                                      optimizer=SGD(model))
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertIn("lr", lines[-1])


if __name__ == "__main__":
    unittest.main()
