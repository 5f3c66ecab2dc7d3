"""The kit's single-convolution baseline."""
from torch import nn


class VanillaCNN(nn.Module):
    """Conv 7x7 (3 -> 32, no padding) -> ReLU -> 2x2 max pool -> Linear; (N, 3, 32, 32) -> logits (N, 10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=7, stride=1, padding=0)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(32 * 13 * 13, 10)  # 32 -> 26 after the 7x7 conv, -> 13 after pooling

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv1(x))).flatten(1))
