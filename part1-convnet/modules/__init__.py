from .softmax_ce import SoftmaxCrossEntropy
from .relu import ReLU
from .max_pool import MaxPooling
from .convolution import Conv2D
from .linear import Linear
from .conv_classifier import ConvNet

__all__ = ["SoftmaxCrossEntropy", "ReLU", "MaxPooling", "Conv2D", "Linear", "ConvNet"]
