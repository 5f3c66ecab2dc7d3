"""A progress bar over a pass's batches (rate, ETA, running loss) for a person at a terminal; logs get none."""
import sys
import time

from tqdm import tqdm

LOSS_READS_PER_SECOND = 2  # reading a GPU loss waits for the GPU: only a few times a second


class BatchBar:
    """Call it once per batch with the batch's loss tensor (or None); close() removes the bar."""

    def __init__(self, total, description, device):
        self.bar = tqdm(total=total, desc=description, unit="batch", leave=False, dynamic_ncols=True,
                        file=sys.stderr)
        self.free_reads = device.type == "cpu"  # on the CPU the loss is already computed when the step returns
        self.last_read = -float("inf")

    def __call__(self, loss=None):
        now = time.monotonic()
        if loss is not None and (self.free_reads or now - self.last_read >= 1 / LOSS_READS_PER_SECOND):
            self.bar.set_postfix_str(f"loss {loss.item():.4f}", refresh=False)
            self.last_read = now
        self.bar.update()

    def close(self):
        self.bar.close()


def batch_bar(total, description, device):
    """A BatchBar when standard error is a terminal, else None (no bar debris in logs and CI)."""
    return BatchBar(total, description, device) if sys.stderr.isatty() else None
