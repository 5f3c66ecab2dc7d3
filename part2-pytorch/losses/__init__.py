"""Losses for long-tailed CIFAR-10, and LOSS_BUILDERS: the config's loss_type mapped to a builder(weight, gamma)
(CE also takes label_smoothing)."""
from torch import nn

from .focal_loss import FocalLoss, SigmoidFocalLoss, init_prior_bias, reweight

LOSS_BUILDERS = {
    "CE": lambda weight, gamma, label_smoothing=0.0: nn.CrossEntropyLoss(weight=weight,
                                                                         label_smoothing=label_smoothing),
    "Focal": FocalLoss,
    "SigmoidFocal": SigmoidFocalLoss,
}

__all__ = ["FocalLoss", "SigmoidFocalLoss", "reweight", "init_prior_bias", "LOSS_BUILDERS"]
