"""Overfit a small CNN on the first 50 CIFAR-10 training images and plot its training accuracy to train.png."""
import sys

import matplotlib
matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt

from data import get_CIFAR10_data
from modules import ConvNet
from optimizer import SGD
from trainer import ClassifierTrainer

DATA_DIR = "data/cifar-10-batches-py"


def main():
    try:
        X_train, y_train, *_ = get_CIFAR10_data(DATA_DIR)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model_list = [
        dict(type="Conv2D", in_channels=3, out_channels=32, kernel_size=5, stride=1, padding=2),
        dict(type="ReLU"),
        dict(type="MaxPooling", kernel_size=2, stride=2),
        dict(type="Linear", in_dim=8192, out_dim=10),
    ]
    model = ConvNet(model_list, dict(type="SoftmaxCrossEntropy"))
    optimizer = SGD(model, learning_rate=0.0001, reg=0.001, momentum=0.9)
    _, train_acc_history = ClassifierTrainer().train(
        X_train[:50], y_train[:50], model, learning_rate_decay=0.95, sample_batches=True, num_epochs=10,
        batch_size=10, acc_frequency=None, verbose=True, optimizer=optimizer)

    plt.plot(range(len(train_acc_history)), train_acc_history, marker="o")
    plt.xlabel("epoch")
    plt.ylabel("training accuracy")
    plt.title("Small CNN overfitting 50 CIFAR-10 images")
    plt.grid(alpha=0.3)
    plt.savefig("train.png", dpi=120, bbox_inches="tight")
    print(f"final training accuracy {train_acc_history[-1]:.3f}; curve saved to train.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
