import csv
import os
import tempfile
import unittest

import torch

import runlog
from metrics import accuracy, confusion_matrix, per_class_accuracy, row_normalised
from runlog import RunLog
from training import validate

LABELS = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2])
PREDICTIONS = torch.tensor([0, 1, 1, 1, 2, 2, 0, 2, 2])
EXPECTED = [[1, 1, 0],  # rows: true class, columns: predicted class
            [0, 2, 1],
            [1, 0, 3]]


class ConfusionMatrix(unittest.TestCase):
    def test_hand_made_example(self):
        confusion = confusion_matrix(LABELS, PREDICTIONS, 3)
        self.assertEqual(confusion.tolist(), EXPECTED)
        self.assertAlmostEqual(accuracy(confusion), 6 / 9)
        torch.testing.assert_close(per_class_accuracy(confusion),
                                   torch.tensor([1 / 2, 2 / 3, 3 / 4], dtype=torch.float64))
        torch.testing.assert_close(row_normalised(confusion), torch.tensor(
            [[1 / 2, 1 / 2, 0], [0, 2 / 3, 1 / 3], [1 / 4, 0, 3 / 4]], dtype=torch.float64))

    def test_per_class_accuracy_is_recall_not_precision(self):
        confusion = confusion_matrix(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1]), 2)  # [[2, 1], [0, 1]]
        self.assertEqual(per_class_accuracy(confusion).tolist(), [2 / 3, 1.0])  # precision would be [1, 0.5]
        self.assertEqual(row_normalised(confusion).tolist(), [[2 / 3, 1 / 3], [0.0, 1.0]])

    def test_classes_without_images(self):
        confusion = confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 1]), 3)
        self.assertEqual(row_normalised(confusion)[2].tolist(), [0, 0, 0])
        self.assertTrue(torch.isnan(per_class_accuracy(confusion)[2]))

    def test_validate_accumulates_over_batches(self):
        class Replay(torch.nn.Module):  # "predicts" PREDICTIONS: one-hot logits, batch after batch
            def __init__(self):
                super().__init__()
                self.batches = iter(PREDICTIONS.split(4))

            def forward(self, images):
                return torch.nn.functional.one_hot(next(self.batches), 3).float()

        batches = list(zip(torch.zeros(9, 1).split(4), LABELS.split(4)))
        self.assertEqual(validate(Replay(), batches, 3).tolist(), EXPECTED)

    def test_run_log_writes_the_matrix_with_true_classes_as_rows(self):
        with tempfile.TemporaryDirectory() as folder:
            run = RunLog(folder, ("cat", "dog", "frog"))
            run.save_confusion(confusion_matrix(LABELS, PREDICTIONS, 3), "example")
            with open(os.path.join(folder, "confusion_matrix.csv")) as f:
                rows = list(csv.reader(f))
            self.assertEqual(rows[0], ["true \\ predicted", "cat", "dog", "frog"])
            self.assertEqual(rows[3], ["frog", "1", "0", "3"])
            self.assertGreater(os.path.getsize(os.path.join(folder, "confusion_matrix.png")), 1000)

    def test_a_title_from_a_file_name_that_is_not_utf8_is_drawn(self):
        title = "runs/x\udcff: TwoLayerNet"  # what Python makes of the byte 0xff in a Linux file name
        self.assertEqual(runlog.shown_text(title), "runs/x\ufffd: TwoLayerNet")
        with tempfile.TemporaryDirectory() as folder:
            run = RunLog(folder, ("cat", "dog", "frog"))
            run.add(dict(epoch=1, lr=0.1, train_loss=1.0, train_acc=0.5, test_acc=0.5, seconds=1.0), [0.5] * 3)
            run.plot_learning_curves(title)
            run.save_confusion(confusion_matrix(LABELS, PREDICTIONS, 3), title)
            for figure in ("learning_curves.png", "confusion_matrix.png"):
                self.assertGreater(os.path.getsize(os.path.join(folder, figure)), 1000)


if __name__ == "__main__":
    unittest.main()
