"""A network assembled from a list of layer descriptions, ending in a softmax cross-entropy criterion."""
from .convolution import Conv2D
from .linear import Linear
from .max_pool import MaxPooling
from .relu import ReLU
from .softmax_ce import SoftmaxCrossEntropy

LAYERS = {
    "Conv2D": lambda d: Conv2D(d["in_channels"], d["out_channels"], d["kernel_size"], d["stride"], d["padding"]),
    "ReLU": lambda d: ReLU(),
    "MaxPooling": lambda d: MaxPooling(d["kernel_size"], d["stride"]),
    "Linear": lambda d: Linear(d["in_dim"], d["out_dim"]),
}


class ConvNet:
    def __init__(self, modules, criterion):
        """modules: list of dicts with a 'type' key (and the layer's arguments); criterion: {'type': 'SoftmaxCrossEntropy'}."""
        self.modules = []
        for spec in modules:
            if spec.get("type") not in LAYERS:
                raise ValueError(f"unknown layer type {spec.get('type')!r}; expected one of {sorted(LAYERS)}")
            self.modules.append(LAYERS[spec["type"]](spec))
        if criterion.get("type") != "SoftmaxCrossEntropy":
            raise ValueError(f"unknown criterion type {criterion.get('type')!r}; expected 'SoftmaxCrossEntropy'")
        self.criterion = SoftmaxCrossEntropy()

    def forward(self, x, y):
        """Returns (probs, loss) for inputs x and labels y."""
        for module in self.modules:
            x = module.forward(x)
        return self.criterion.forward(x, y)

    def backward(self):
        self.criterion.backward()
        grad = self.criterion.dx
        for module in reversed(self.modules):
            module.backward(grad)
            grad = module.dx
