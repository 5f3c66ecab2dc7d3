"""MyModel: a compact residual CNN (about 1.9M parameters) for CIFAR-10.

Three resolution stages (32 -> 16 -> 8 -> 4). Each widens the channels with a 3x3 conv, halves the resolution
with max pooling and refines with a residual pair of 3x3 convs, so most of the compute happens at low resolution.
Global max pooling keeps the strongest response of each feature wherever it occurs in the image.
"""
from torch import nn


def conv_bn_relu(in_channels, out_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),  # BN supplies the bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualPair(nn.Module):
    """x + f(x) with f two conv-BN-ReLU layers that keep the shape."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels), conv_bn_relu(channels, channels))

    def forward(self, x):
        return x + self.body(x)


def stage(in_channels, out_channels):
    return nn.Sequential(conv_bn_relu(in_channels, out_channels), nn.MaxPool2d(2), ResidualPair(out_channels))


class MyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(3, 32),
            stage(32, 64),
            stage(64, 128),
            stage(128, 256),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(256, 10)

    def forward(self, x):
        return self.classifier(self.features(x))
