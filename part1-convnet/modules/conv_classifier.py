"""A network assembled from a list of layer descriptions, ending in a softmax cross-entropy criterion."""
import difflib
import inspect

from .convolution import Conv2D
from .linear import Linear
from .max_pool import MaxPooling
from .relu import ReLU
from .softmax_ce import SoftmaxCrossEntropy

LAYERS = {"Conv2D": Conv2D, "ReLU": ReLU, "MaxPooling": MaxPooling, "Linear": Linear}


def build_layer(spec):
    """The layer a dict describes, built from the keys that name its arguments (others, 'type' among them, are
    ignored, as in the kit, unless one looks like a misspelt argument); an argument left out takes the layer's
    default, as Conv2D's stride and padding."""
    if not isinstance(spec, dict):
        raise TypeError(f"ConvNet: each layer is a dict such as dict(type='ReLU'), got a {type(spec).__name__}: "
                        f"{spec!r:.80}")
    if spec.get("type") not in LAYERS:
        raise ValueError(f"ConvNet: unknown layer type {spec.get('type')!r}; expected one of {sorted(LAYERS)}")
    parameters = inspect.signature(LAYERS[spec["type"]]).parameters
    unnamed = [name for name in parameters if name not in spec]
    for key in spec:  # a misspelt argument would otherwise be ignored and its default used in silence
        guess = difflib.get_close_matches(str(key), unnamed, n=1, cutoff=0.6) if key not in parameters else []
        if guess:
            raise ValueError(f"ConvNet: a {spec['type']} layer takes no {key!r}; did you mean {guess[0]!r}? "
                             f"(it takes {', '.join(parameters)}); got {spec}")
    missing = [name for name, parameter in parameters.items()
               if parameter.default is parameter.empty and name not in spec]
    if missing:
        raise ValueError(f"ConvNet: a {spec['type']} layer needs {', '.join(missing)}; got {spec}")
    return LAYERS[spec["type"]](**{name: spec[name] for name in parameters if name in spec})


class ConvNet:
    def __init__(self, modules, criterion):
        """modules: list of dicts with a 'type' key (and the layer's arguments);
        criterion: {'type': 'SoftmaxCrossEntropy'}."""
        if not isinstance(modules, (list, tuple)):
            raise TypeError(f"ConvNet: modules is a list of layer dicts such as [dict(type='ReLU')], got a "
                            f"{type(modules).__name__}")
        if not isinstance(criterion, dict):
            raise TypeError(f"ConvNet: criterion is a dict, dict(type='SoftmaxCrossEntropy'), got a "
                            f"{type(criterion).__name__}: {criterion!r:.80}")
        self.modules = [build_layer(spec) for spec in modules]
        if criterion.get("type") != "SoftmaxCrossEntropy":
            raise ValueError(f"ConvNet: unknown criterion type {criterion.get('type')!r}; "
                             "expected 'SoftmaxCrossEntropy'")
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
