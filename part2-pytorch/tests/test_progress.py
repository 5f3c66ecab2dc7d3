"""The progress bar: shown only at a terminal, and on a GPU it reads the loss only a few times a second."""
import io
import time
import unittest
from unittest import mock

import torch

import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


class CountingLoss:
    def __init__(self):
        self.reads = 0

    def item(self):
        self.reads += 1
        return 0.5


class BatchBar(unittest.TestCase):
    def test_no_bar_when_the_output_is_not_a_terminal(self):
        with mock.patch("sys.stderr", io.StringIO()):
            self.assertIsNone(progress.batch_bar(10, "epoch 1", torch.device("cpu")))

    def test_a_terminal_gets_rate_and_running_loss_and_the_bar_goes_away(self):
        screen = Terminal()
        with mock.patch("sys.stderr", screen):
            bar = progress.batch_bar(3, "epoch 1", torch.device("cpu"))
            for _ in range(3):
                time.sleep(0.15)  # tqdm redraws at most every 0.1 s
                bar(torch.tensor(0.25))
            bar.close()
        text = screen.getvalue()
        self.assertIn("epoch 1", text)
        self.assertIn("loss 0.2500", text)
        self.assertIn("batch/s", text)
        self.assertEqual(text.rsplit("\r", 1)[-1].strip(), "")  # closed: the line is cleared, the log row follows

    def test_on_a_gpu_the_loss_is_read_at_most_a_few_times_a_second(self):
        loss = CountingLoss()
        with mock.patch("sys.stderr", Terminal()):
            bar = progress.BatchBar(1000, "epoch 1", torch.device("cuda"))
            for _ in range(1000):  # far quicker than half a second
                bar(loss)
            bar.close()
        self.assertEqual(loss.reads, 1)
        loss = CountingLoss()
        with mock.patch("sys.stderr", Terminal()):
            bar = progress.BatchBar(1000, "epoch 1", torch.device("cpu"))
            for _ in range(5):
                bar(loss)
        self.assertEqual(loss.reads, 5)  # free on the CPU: the step has already computed it


if __name__ == "__main__":
    unittest.main()
