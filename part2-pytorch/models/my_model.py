"""MyModel: a compact, fast-converging CNN for CIFAR-10, designed for ~11 epochs (30 minutes) of 2-core CPU training.

Shape of the idea (from fast CIFAR-10 training recipes): few layers, most computation at low resolution,
pooling early, BatchNorm after every conv, and a max-pooled head. Our own choices: a learned 3x3 stem, a
residual connection around the second conv of each stage, widths 24/48/96/192 sized for a 2-core CPU budget.

    stem   3x3 conv 3->24, BN, ReLU                          32x32
    stage  conv 3x3 -> max-pool 2 -> BN, ReLU -> [conv 3x3 -> BN, ReLU] + skip    x3: 16x16x48, 8x8x96, 4x4x192
    head   global max pool -> linear 192->10, logits scaled by 1/8
    eval   logits averaged over the image and its mirror (test-time flip: the training data is flipped too)

MyModel() is that network; MyModel(widths=..., shifted_views=True) is the same design at other widths, tested
on six views (MODEL_BUILDERS["MyModel-GPU"] is the GPU recipe's, configs/config_mymodel_gpu.yaml).
"""
import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (24, 48, 96, 192)
LOGIT_SCALE = 1 / 8  # keeps the initial logits small, like a temperature; lets the head train at the body's rate


def conv_bn(in_channels, out_channels):
    return [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class Stage(nn.Module):
    """Widen at full resolution, halve the resolution, then refine with a residual conv."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        conv, bn, relu = conv_bn(in_channels, out_channels)
        self.widen = nn.Sequential(conv, nn.MaxPool2d(2), bn, relu)  # pooling before BN: BN sees 4x fewer pixels
        self.refine = nn.Sequential(*conv_bn(out_channels, out_channels))

    def forward(self, x):
        x = self.widen(x)
        return x + self.refine(x)


class MyModel(nn.Module):
    """`widths`: the stem's channels, then each stage's; `shifted_views`: test on the image and its mirror, each
    also shifted by one pixel up-left and down-right (six views), instead of the two unshifted views."""

    def __init__(self, widths=WIDTHS, shifted_views=False):
        super().__init__()
        if len(widths) < 2 or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ValueError(f"widths must be two or more positive integers (stem, stages...), got {widths!r}")
        self.stem = nn.Sequential(*conv_bn(3, widths[0]))
        self.stages = nn.Sequential(*(Stage(a, b) for a, b in zip(widths, widths[1:])))
        self.head = nn.Linear(widths[-1], 10, bias=False)
        self.shifted_views = shifted_views

    def logits(self, x):
        features = self.stages(self.stem(x))
        return self.head(torch.amax(features, dim=(2, 3))) * LOGIT_SCALE

    def mirrored_logits(self, x):
        # A mirrored image is as likely as the original, so averaging both views is an ensemble for twice the
        # inference cost and no training (REPORT.md, "My model", has its gain).
        return (self.logits(x) + self.logits(x.flip(3))) / 2

    def forward(self, x):
        if self.training:
            return self.logits(x)
        if not self.shifted_views:
            return self.mirrored_logits(x)
        # Training crops shift images by up to a few pixels, so one-pixel shifts are views the model knows; the
        # unshifted pair keeps half the weight; reflected borders keep the shifted edge image-like.
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = [padded[:, :, :-2, :-2], padded[:, :, 2:, 2:]]
        return (self.mirrored_logits(x) + sum(self.mirrored_logits(view) for view in shifted) / 2) / 2
