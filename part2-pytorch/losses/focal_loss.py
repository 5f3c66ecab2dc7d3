"""Class-balanced focal losses (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019).

FocalLoss is the softmax form the kit asks for; SigmoidFocalLoss is the paper's one-vs-all form.
Both take logits (N, C) and int64 labels (N,) and reduce by the weighted mean over the batch:
sum_n w[y_n] * loss_n / sum_n w[y_n], which is what F.cross_entropy(..., weight=w) does.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def reweight(cls_num_list, beta=0.9999):
    """Per-class weights (1 - beta) / (1 - beta ** n_c) from the effective number of samples, summing to C."""
    counts = torch.as_tensor(cls_num_list, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) == 0:
        raise ValueError(f"cls_num_list must hold one count per class, got {cls_num_list!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if counts.min() < 1:
        raise ValueError(f"every class needs at least one sample, got counts {list(cls_num_list)}")
    weights = (1.0 - beta) / (1.0 - torch.pow(beta, counts))
    return (weights * len(counts) / weights.sum()).float()


def _check_gamma(gamma):
    if not 0 <= gamma < math.inf:  # NaN fails too
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
    return float(gamma)


def _as_weight(weight):
    """None, or the per-class weights as a tensor: reweight's, or a plain list or array of numbers."""
    if weight is None or isinstance(weight, torch.Tensor):
        return weight
    return torch.as_tensor(weight, dtype=torch.get_default_dtype())


def _weighted_mean(per_sample_loss, target, weight):
    if weight is None:
        return per_sample_loss.mean()
    sample_weight = weight[target]
    return (sample_weight * per_sample_loss).sum() / sample_weight.sum()


def _focal_term(log_p, gamma):
    """-(1 - p)^gamma log p, from log p so that it stays finite when p rounds to 0 or 1."""
    # 1 - p via expm1 keeps its precision near p = 1. The clamp keeps the power's gradient finite
    # there when gamma < 1 (the true limit of the product's gradient is 0, which the clamp gives).
    one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
    return -one_minus_p.pow(gamma) * log_p


class FocalLoss(nn.Module):
    """Softmax focal loss -w_y (1 - p_y)^gamma log p_y, weighted mean over the batch.

    p_y is the plain softmax probability of the true class (the weights scale the loss, never p_y).
    With gamma = 0 this is F.cross_entropy(input, target, weight=weight).
    """

    def __init__(self, weight=None, gamma=0.):
        super().__init__()
        self.gamma = _check_gamma(gamma)
        self.register_buffer("weight", _as_weight(weight))  # a buffer, so .to(device) moves it with the module

    def forward(self, input, target):
        log_p = F.log_softmax(input, dim=1).gather(1, target[:, None]).squeeze(1)
        return _weighted_mean(_focal_term(log_p, self.gamma), target, self.weight)


class SigmoidFocalLoss(nn.Module):
    """The paper's sigmoid (one-vs-all) focal loss: each class is its own binary problem.

    For sample n and class c, z = logit if c is the true class else -logit, and the term is
    -(1 - sigmoid(z))^gamma log sigmoid(z). A sample's loss is the sum of its C terms, and the batch loss is
    the weighted mean of those sums with the weight of the sample's true class. With gamma = 0 and no weights
    it is C * F.binary_cross_entropy_with_logits(input, one_hot(target)). The paper's code divides by N
    instead of sum_n w[y_n]; the weighted mean keeps the loss scale, hence the learning rate, the same with
    and without reweighting, as FocalLoss does.
    Start the final layer's bias at init_prior_bias so that training starts from p = 1/C for every class.
    """

    def __init__(self, weight=None, gamma=0.):
        super().__init__()
        self.gamma = _check_gamma(gamma)
        self.register_buffer("weight", _as_weight(weight))

    def forward(self, input, target):
        sign = F.one_hot(target, input.shape[1]).to(input.dtype) * 2 - 1
        log_p = F.logsigmoid(sign * input)
        return _weighted_mean(_focal_term(log_p, self.gamma).sum(dim=1), target, self.weight)


def init_prior_bias(linear, prior=None):
    """Set a classifier's bias to -log((1 - pi) / pi), pi = 1/C by default, as the paper does for sigmoid losses.

    Without it the C - 1 negative terms per sample dominate the first updates of a sigmoid loss.
    """
    prior = 1.0 / linear.out_features if prior is None else prior
    with torch.no_grad():
        linear.bias.fill_(-math.log((1.0 - prior) / prior))
    return linear
