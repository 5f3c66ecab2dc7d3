"""Stochastic gradient descent with (heavy-ball) momentum: v = momentum * v - lr * grad; param = param + v."""
import numpy as np

from ._base_optimizer import _BaseOptimizer


class SGD(_BaseOptimizer):
    def __init__(self, model, learning_rate=1e-4, reg=1e-3, momentum=0.9):
        super().__init__(model, learning_rate, reg)
        self.momentum = momentum
        self.velocity = {}  # (module index, "weight" | "bias") -> velocity; zero until the first update

    def update(self, model):
        self.apply_regularization(model)
        for index, module in enumerate(model.modules):
            if not hasattr(module, "weight"):
                continue
            for name, grad in (("weight", module.dw), ("bias", module.db)):
                v = self.velocity.get((index, name), np.zeros_like(grad))
                v = self.momentum * v - self.learning_rate * grad  # learning_rate read each call: the trainer decays it
                self.velocity[(index, name)] = v
                setattr(module, name, getattr(module, name) + v)
