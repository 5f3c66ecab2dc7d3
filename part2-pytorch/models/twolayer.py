"""The kit's baseline: a fully connected network with one sigmoid hidden layer."""
from torch import nn


class TwoLayerNet(nn.Module):
    """Linear -> sigmoid -> Linear on the flattened image; returns logits (N, num_classes)."""

    def __init__(self, input_dim, hidden_size, num_classes):
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden_size)
        self.fc2 = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        return self.fc2(self.fc1(x.flatten(1)).sigmoid())
