from .dataset_cifar import generate_batched_data, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch

__all__ = ["generate_batched_data", "get_CIFAR10_data", "load_CIFAR10", "load_CIFAR_batch"]
