"""Mini-batches from a whole split held as uint8 on the training device.

Images move to the device once: for training, padded copies and their mirror images from which batches are
cropped (480 MB for the CIFAR-10 training set), for testing the images themselves. A training batch is then an
index, one crop-and-flip index_select and a float conversion, all on the device. Nothing is copied from the host
per batch and nothing waits on the device, so the model never waits for data.

Under torchrun each rank holds the whole split but yields only its slice of every global batch (and of the test
set); the shuffling and augmentation numbers are drawn for the whole global batch on every rank alike, so N ranks
see exactly the images one process would.
"""
import numpy as np
import torch

import distributed
from .augment import CROP_PADDING, Crops, normalise, random_offsets_and_flips

FLIP_MODES = ("random", "alternate")


class DeviceBatches:
    """Iterates batches of a dataset's `data` and `targets`: images float32 (B, 3, 32, 32) in `memory_format`
    and labels int64 (B,).

    With `train` false a batch is (images, labels). With `train` true the order is reshuffled every pass and the
    images augmented (random crop with `crop_padding`, flip), using `generator` (a torch.Generator on `device`)
    so that runs repeat and resumed runs continue the same random stream. `flips` "random" mirrors each image with
    probability 1/2 in every pass; "alternate" mirrors each image in every other pass, starting from a random
    choice per image fixed by the generator's seed (short runs see both views of every image within two passes
    instead of by chance; from the CIFAR-10 speed records); set_epoch(e) says which pass comes next, as on
    resuming. A training batch is (images, labels, loss_scale), loss_scale being this rank's share of the global
    batch times the number of ranks: a local mean loss multiplied by it and averaged over ranks (as DDP averages
    gradients) is the global mean even when the last batch does not split evenly; it is 1 in a single process.
    """

    def __init__(self, dataset, batch_size, device, train, generator=None, crop_padding=CROP_PADDING,
                 memory_format=torch.contiguous_format, flips="random"):
        if flips not in FLIP_MODES:
            raise ValueError(f"flips must be one of {', '.join(FLIP_MODES)}, got {flips!r}")
        images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).to(device)  # HWC -> CHW
        # Training batches are cut from padded copies and their mirror images; test batches are the images.
        self.crops = Crops(images, crop_padding, memory_format) if train else None
        self.images = None if train else images.contiguous()
        self.labels = torch.as_tensor(dataset.targets, dtype=torch.int64).to(device)
        self.batch_size = batch_size
        self.train = train
        self.generator = generator
        self.memory_format = memory_format
        self.flips, self.epoch = flips, 1
        self._first = (None, None)  # (seed, the alternate mode's odd-epoch flips for it)

    def set_epoch(self, epoch):
        """The next training pass is epoch `epoch` (1 is the first); each pass counts on from there."""
        self.epoch = epoch

    def _first_flips(self, device):
        """The "alternate" mode's mirroring in odd epochs: per image, from the generator's seed alone, so a
        resumed run or a reseeded generator gets it back."""
        seed = self.generator.initial_seed() if self.generator is not None else torch.initial_seed()
        if self._first[0] != seed:
            drawn = torch.rand(len(self.labels), generator=torch.Generator(device).manual_seed(seed), device=device)
            self._first = seed, drawn < 0.5
        return self._first[1]

    def _images_per_pass(self):
        count = len(self.labels)
        # A last training batch of one image would make BatchNorm fail, and one smaller than the number of ranks
        # would leave a rank without images; the order is reshuffled every pass, so leaving those few images out
        # gives them their turn in other passes.
        leftover = count % self.batch_size
        if self.train and count > self.batch_size and 0 < leftover < max(2, distributed.world_size()):
            return count - leftover
        return count

    def __len__(self):
        return -(-self._images_per_pass() // self.batch_size)

    def __iter__(self):
        count, ranks = self._images_per_pass(), distributed.world_size()
        if not self.train:  # each rank tests a contiguous part of the split
            images, labels = self.images[distributed.shard(count)], self.labels[distributed.shard(count)]
            for start in range(0, len(labels), self.batch_size):
                batch = images[start:start + self.batch_size]
                yield normalise(batch, self.memory_format), labels[start:start + self.batch_size]
            return
        order = torch.randperm(len(self.labels), generator=self.generator, device=self.labels.device)[:count]
        sizes = [min(self.batch_size, count - start) for start in range(0, count, self.batch_size)]
        # The crop positions and labels of the whole pass are computed at once, leaving a slice, one crop and the
        # normalisation per batch. The random numbers are drawn batch by batch, so every run repeats exactly.
        draws = [random_offsets_and_flips(size, self.generator, self.crops.padding, order.device) for size in sizes]
        if self.flips == "alternate":  # the random flips above are drawn all the same: the stream stays as it was
            flips = self._first_flips(order.device).index_select(0, order) ^ (self.epoch % 2 == 0)
        else:
            flips = torch.cat([flips for _, flips in draws])
        self.epoch += 1
        starts = self.crops.starts(order, torch.cat([offsets for offsets, _ in draws]), flips)
        labels = self.labels.index_select(0, order)
        for start, size in zip(range(0, count, self.batch_size), sizes):
            mine = distributed.shard(size)
            part = slice(start + mine.start, start + mine.stop)
            loss_scale = (mine.stop - mine.start) * ranks / size
            yield normalise(self.crops.cut(starts[part]), self.memory_format), labels[part], loss_scale
