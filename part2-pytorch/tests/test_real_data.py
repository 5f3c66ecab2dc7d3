"""The shipped checkpoints on the full CIFAR-10 test set. Each test skips, saying why, while its data or
checkpoint file is missing."""
import os
import unittest


import checkpointing
import run_state
from data import Cifar, DeviceBatches
from metrics import accuracy
from models import MODEL_BUILDERS
from tests.helpers import PART2, REAL_DATA
from training import validate

CHECKPOINTS = os.path.join(PART2, "checkpoints")


class TestSetIdentity(unittest.TestCase):
    def test_the_real_test_batch_is_recognised_and_the_training_batches_are_not(self):
        if not os.path.isdir(REAL_DATA):
            self.skipTest(f"CIFAR-10 is not in {REAL_DATA}; fetch it with sh data/get_data.sh")
        self.assertTrue(run_state.is_cifar10_test_set(Cifar(REAL_DATA, train=False).targets))
        self.assertFalse(run_state.is_cifar10_test_set(Cifar(REAL_DATA, train=True).targets[:10000]))


class ShippedCheckpoints(unittest.TestCase):
    test_batches = None

    def require(self, file_name):
        if not os.path.isdir(REAL_DATA):
            self.skipTest(f"CIFAR-10 is not in {REAL_DATA}; fetch it with sh data/get_data.sh")
        path = os.path.join(CHECKPOINTS, file_name)
        if not os.path.exists(path):
            self.skipTest(f"{path} does not exist yet: train it with main.py and the matching config")
        return path

    def model_from(self, model_name, file_name):
        model = MODEL_BUILDERS[model_name]()
        checkpointing.load_weights(model, self.require(file_name), model_name)
        return model

    def measured_accuracy(self, model_name, file_name):
        model = self.model_from(model_name, file_name)  # first: it skips the test when something is missing
        if ShippedCheckpoints.test_batches is None:  # loaded once, for every model
            ShippedCheckpoints.test_batches = DeviceBatches(Cifar(REAL_DATA, train=False), 500, "cpu", train=False)
        return accuracy(validate(model, ShippedCheckpoints.test_batches, 10))

    def test_two_layer_net_lies_between_0_30_and_0_40(self):
        measured = self.measured_accuracy("TwoLayerNet", "twolayernet.pth")
        self.assertGreaterEqual(measured, 0.30)
        self.assertLessEqual(measured, 0.40)

    def test_vanilla_cnn_is_above_0_40(self):
        self.assertGreater(self.measured_accuracy("VanillaCNN", "vanillacnn.pth"), 0.40)

    def test_my_model_keeps_its_measured_accuracy(self):
        # The kit asks for at least 0.7; the shipped weights measured 0.8812 (REPORT.md), so anything below 0.88
        # means the checkpoint, the model code or the test pipeline changed.
        self.assertGreaterEqual(self.measured_accuracy("MyModel", "mymodel.pth"), 0.88)

    def test_resnet32_keeps_its_measured_accuracy(self):
        # The final weights of the resnet32-cpu grid's CB softmax focal run, seed 0: 0.5951 on the balanced test
        # set (REPORT.md); the goal for the CPU schedule is 0.55.
        self.assertGreaterEqual(self.measured_accuracy("ResNet-32", "resnet-32.pth"), 0.59)

if __name__ == "__main__":
    unittest.main()
