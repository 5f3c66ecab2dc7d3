from .dataset_cifar import DataError, generate_batched_data, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch

__all__ = ["DataError", "generate_batched_data", "get_CIFAR10_data", "load_CIFAR10", "load_CIFAR_batch"]
