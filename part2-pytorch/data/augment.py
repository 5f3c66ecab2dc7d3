"""The kit's CIFAR-10 transforms, done batched on uint8 tensors on the training device.

RandomCrop(32, padding=4) + RandomHorizontalFlip() + ToTensor() + Normalize(CIFAR_MEAN, CIFAR_STD), the kit's
training transform, is random_offsets_and_flips, a cut from Crops and normalise; its test transform is normalise
alone. kit_transforms(train) builds the torchvision originals, which tests/test_augmentation.py compares with.
"""
import functools

import torch
import torch.nn.functional as F

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
CROP_PADDING = 4


@functools.lru_cache(maxsize=None)
def _scaled_mean_and_std(device, height, width, memory_format):
    """255 * mean and 255 * std as whole (1, 3, H, W) planes in `memory_format`, cached per device and shape.
    Why whole planes: the CPU kernels vectorise over operands of the batch's own layout, and a (1, 3, 1, 1)
    broadcast over a channels-last batch (innermost axis of length 3) does not."""
    def plane(values):
        values = torch.tensor(values, device=device).view(1, 3, 1, 1) * 255
        return values.expand(1, 3, height, width).contiguous(memory_format=memory_format)
    return plane(CIFAR_MEAN), plane(CIFAR_STD)


def normalise(images, memory_format=torch.contiguous_format):
    """uint8 (N, 3, H, W), any strides -> float32 (x / 255 - mean) / std in `memory_format`, as ToTensor +
    Normalize give (to float32 rounding). (x / 255 - mean) / std = (x - 255 mean) / (255 std): one pass fewer."""
    scaled_mean, scaled_std = _scaled_mean_and_std(images.device, *images.shape[2:], memory_format)
    out = torch.empty(images.shape, dtype=torch.float32, device=images.device, memory_format=memory_format)
    return out.copy_(images).sub_(scaled_mean).div_(scaled_std)


class Crops:
    """Every crop of some uint8 images (N, C, H, W), zero-padded by `padding`, and of their mirror images.

    The padded images P and their mirrors M are stored once, P then M, in `memory_format`. A crop of image n at
    (top, left) is the block of the store that begins at element
        start = n * image_stride + top * row_stride + left * column_stride
    and spans the image's shape at the store's strides; a mirrored crop is the crop of M at 2 * padding - left.
    So `windows` views the store with one row per start (as_strided: row s is the block beginning at s) and a
    batch of crops, flipped or not, is one index_select of rows: one kernel on a GPU, two to three times faster
    than a pixel gather on the CPU, and already in the stored layout. Costs twice the padded images in memory.
    The reference it is tested against: shifts with zero fill, then flips (tests/test_augmentation.py).
    """

    def __init__(self, images, padding=CROP_PADDING, memory_format=torch.contiguous_format):
        count, channels, height, width = images.shape
        self.count, self.padding = count, padding
        both = torch.empty((2 * count, channels, height + 2 * padding, width + 2 * padding), dtype=images.dtype,
                           device=images.device, memory_format=memory_format)  # filled in place: a lower peak
        both[:count] = F.pad(images, (padding,) * 4)
        # A crop at column `left` of a mirror image is the flipped crop at 2 * padding - left of the image.
        both[count:] = both[:count].flip(3)
        self.image_stride, _, self.row_stride, self.column_stride = both.stride()
        axes = (2, 3, 1) if memory_format == torch.channels_last else (1, 2, 3)  # window axes, outermost first
        block = 1 + sum((images.shape[axis] - 1) * both.stride(axis) for axis in axes)  # storage one crop spans
        self.windows = both.as_strided((both.numel() - block + 1, *(images.shape[axis] for axis in axes)),
                                       (1, *(both.stride(axis) for axis in axes)))
        self.to_channels_first = (0, *(1 + axes.index(axis) for axis in (1, 2, 3)))

    def starts(self, index, offsets, flips):
        """Where the crops of images `index` (B,) at `offsets` (B, 2) = (top, left) in the padded image start
        in the store, mirrored where `flips` (B,) is true: computed for many batches at once, cut one by one."""
        left = torch.where(flips, 2 * self.padding - offsets[:, 1], offsets[:, 1])
        image = index + flips * self.count
        return image * self.image_stride + offsets[:, 0] * self.row_stride + left * self.column_stride

    def cut(self, starts):
        """The crops starting at `starts` (B,) as uint8 (B, C, H, W), in the stored layout."""
        return self.windows.index_select(0, starts).permute(self.to_channels_first)

    def __call__(self, index, offsets, flips):
        """RandomCrop then RandomHorizontalFlip of images `index`: their crops at `offsets` (top, left),
        mirrored where `flips` is true, as uint8 (B, C, H, W)."""
        return self.cut(self.starts(index, offsets, flips))


def random_offsets_and_flips(count, generator=None, padding=CROP_PADDING, device=None):
    """Crop offsets (count, 2) uniform in [0, 2 * padding] per axis, and flips (count,) true with probability 1/2."""
    offsets = torch.randint(0, 2 * padding + 1, (count, 2), generator=generator, device=device)
    flips = torch.rand(count, generator=generator, device=device) < 0.5
    return offsets, flips


def kit_transforms(train):
    """The kit's torchvision transforms, for use with Cifar / IMBALANCECIFAR10 and a DataLoader."""
    from torchvision import transforms  # imported here: torchvision adds seconds to every start-up otherwise

    steps = [transforms.RandomCrop(32, padding=CROP_PADDING), transforms.RandomHorizontalFlip()] if train else []
    return transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])
