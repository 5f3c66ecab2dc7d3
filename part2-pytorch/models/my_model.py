"""MyModel: a compact, fast-converging CNN for CIFAR-10, designed for ~11 epochs (30 minutes) of 2-core CPU training.

Shape of the idea (from fast CIFAR-10 training recipes): few layers, most computation at low resolution,
pooling early, BatchNorm after every conv, and a max-pooled head. Our own choices: a learned 3x3 stem, a
residual connection around the second conv of each stage, widths 24/48/96/192 sized for a 2-core CPU budget.

    stem   3x3 conv 3->24, BN, ReLU                          32x32
    stage  conv 3x3 -> max-pool 2 -> BN, ReLU -> [conv 3x3 -> BN, ReLU] + skip    x3: 16x16x48, 8x8x96, 4x4x192
    head   global max pool -> linear 192->10, logits scaled by 1/8
    eval   logits averaged over the image and its mirror (test-time flip: the training data is flipped too)

MyModel() is that network. MODEL_BUILDERS["MyModel-GPU"] (configs/config_mymodel_gpu.yaml) is the same design
at GPU widths, with a fixed whitening 2x2 stem fitted to the training images (fit_stem) and tested on six views.
"""
import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (24, 48, 96, 192)
LOGIT_SCALE = 1 / 8  # keeps the initial logits small, like a temperature; lets the head train at the body's rate


def conv_bn_relu(in_channels, out_channels):
    return [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class WhitenedStem(nn.Module):
    """A 2x2 conv, then ReLU. fit_stem sets its filters to whiten the 2x2 patches of some training images (the
    patch covariance's eigenvectors over the square roots of their eigenvalues, each filter beside its negative,
    so that the ReLU keeps both signs) and fixes them; until then it is an ordinary learned conv."""

    def __init__(self, out_channels):
        super().__init__()
        if out_channels % 2 or not 2 <= out_channels <= 24:
            raise ValueError(f"a whitened stem has 2 to 24 channels, an even number, got {out_channels}")
        self.conv = nn.Conv2d(3, out_channels, kernel_size=2)

    @torch.no_grad()
    def fit_stem(self, images, eps=5e-4):
        """Whitening filters from `images` (N, 3, H, W), normalised as the model sees them."""
        images = (images.cpu() if images.device.type == "mps" else images).double()  # MPS has no float64
        patches = F.unfold(images, kernel_size=2).transpose(1, 2).reshape(-1, 12)  # (C, kh, kw) order
        patches -= patches.mean(dim=0)
        eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        strongest = eigenvalues.argsort(descending=True)[:self.conv.out_channels // 2]
        filters = (eigenvectors[:, strongest] / (eigenvalues[strongest] + eps).sqrt()).T
        self.conv.weight.copy_(torch.cat([filters, -filters]).reshape(self.conv.weight.shape).float())
        self.conv.weight.requires_grad_(False)  # fixed: their job is done before training starts

    def forward(self, x):
        return F.relu(self.conv(x))


class Stage(nn.Module):
    """Widen at full resolution, halve the resolution, then refine with a residual conv."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        conv, bn, relu = conv_bn_relu(in_channels, out_channels)
        self.widen = nn.Sequential(conv, nn.MaxPool2d(2), bn, relu)  # pooling before BN: BN sees 4x fewer pixels
        self.refine = nn.Sequential(*conv_bn_relu(out_channels, out_channels))

    def forward(self, x):
        x = self.widen(x)
        return x + self.refine(x)


class MyModel(nn.Module):
    """`widths`: the stem's channels, then each stage's; `shifted_views`: test on the image and its mirror, each
    also shifted by one pixel up-left and down-right (six views), instead of the two unshifted views;
    `whitened_stem`: a 2x2 stem whose fixed filters whiten image patches (fit_stem) instead of a learned 3x3."""

    def __init__(self, widths=WIDTHS, shifted_views=False, whitened_stem=False):
        super().__init__()
        if len(widths) < 2 or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ValueError(f"widths must be two or more positive integers (stem, stages...), got {widths!r}")
        self.stem = WhitenedStem(widths[0]) if whitened_stem else nn.Sequential(*conv_bn_relu(3, widths[0]))
        self.stages = nn.Sequential(*(Stage(a, b) for a, b in zip(widths, widths[1:])))
        self.head = nn.Linear(widths[-1], 10, bias=False)
        self.shifted_views, self.whitened_stem = shifted_views, whitened_stem

    def fit_stem(self, images):
        """Fit a whitened stem to `images` (normalised training images; main.py passes the first 5,000)."""
        if self.whitened_stem:
            self.stem.fit_stem(images)

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
