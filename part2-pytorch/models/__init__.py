"""The part-2 networks, and MODEL_BUILDERS: the config's model names mapped to a function building each."""
from .cnn import VanillaCNN
from .my_model import MyModel
from .resnet import resnet20, resnet32, resnet44, resnet56, resnet110, resnet1202
from .twolayer import TwoLayerNet

MODEL_BUILDERS = {
    "TwoLayerNet": lambda: TwoLayerNet(3072, 256, 10),
    "VanillaCNN": VanillaCNN,
    "MyModel": MyModel,
    # configs/config_mymodel_gpu.yaml's recipe; -wide has 2.6x the work, for the GPU to measure (REPORT.md, "MyModel
    # on a GPU")
    "MyModel-GPU": lambda: MyModel(widths=(24, 64, 256, 256), shifted_views=True, whitened_stem=True),
    "MyModel-GPU-wide": lambda: MyModel(widths=(24, 128, 384, 384), shifted_views=True, whitened_stem=True),
    "ResNet-20": resnet20,
    "ResNet-32": resnet32,
    "ResNet-44": resnet44,
    "ResNet-56": resnet56,
    "ResNet-110": resnet110,
    "ResNet-1202": resnet1202,
}

__all__ = ["TwoLayerNet", "VanillaCNN", "MyModel", "MODEL_BUILDERS",
           "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"]
