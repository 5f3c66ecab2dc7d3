"""What every optimiser shares: the learning rate, and L2 regularisation of weights (not biases)."""


class _BaseOptimizer:
    def __init__(self, model, learning_rate=1e-4, reg=1e-3):
        self.learning_rate = learning_rate
        self.reg = reg

    def update(self, model):
        raise NotImplementedError("optimisers implement update(model)")

    def apply_regularization(self, model):
        """Add the gradient of (reg / 2) * ||weight||^2, i.e. reg * weight, to every weight gradient."""
        for module in model.modules:
            if hasattr(module, "weight"):
                if getattr(module, "dw", None) is None:  # else: "unsupported operand NoneType + float"
                    raise RuntimeError(f"{type(module).__name__} has no gradients yet: run model.backward() "
                                       f"before optimizer.update(model)")
                module.dw = module.dw + self.reg * module.weight
