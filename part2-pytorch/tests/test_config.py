import os
import tempfile
import time
import types
import unittest

import numpy as np
import torch
import torch.nn.functional as F
import yaml

import config
import main
import run_state
from losses import reweight
from config import ConfigError, load_config
from tests.helpers import write_cifar_folder

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
KIT_SHARED = dict(batch_size=128, reg=0.0005, epochs=10, steps=[6, 8], warmup=0, momentum=0.9,
                  imbalance="regular", save_best=True, loss_type="CE")
VALID = """
Train: {batch_size: 128, learning_rate: 0.1, reg: 0.0005, epochs: 10, steps: [6, 8], warmup: 0, momentum: 0.9}
network: {model: TwoLayerNet}
data: {imbalance: regular, save_best: true}
loss: {loss_type: CE}
"""


class ShippedConfigs(unittest.TestCase):
    def load(self, name, overrides=()):
        return load_config(os.path.join(CONFIGS, name), overrides)

    def test_kit_configs_keep_the_kit_values(self):
        for name, model, rate in (("config_twolayer.yaml", "TwoLayerNet", 0.1),
                                  ("config_vanilla_cnn.yaml", "VanillaCNN", 0.0001)):
            with self.subTest(config=name):
                values = self.load(name)
                self.assertEqual({key: values[key] for key in KIT_SHARED}, KIT_SHARED)
                self.assertEqual((values["model"], values["learning_rate"]), (model, rate))

    def test_resnet32_config_is_the_long_tailed_default(self):
        values = self.load("config_resnet32.yaml")
        expected = dict(model="ResNet-32", imbalance="imbalance", imb_type="exp", imb_factor=0.01, loss_type="Focal",
                        reweight=True, beta=0.9999, gamma=1.0, batch_size=128, learning_rate=0.1, momentum=0.9)
        self.assertEqual({key: values[key] for key in expected}, expected)

    def test_resnet32_config_is_the_cpu_grid_run_it_ships(self):
        # checkpoints/resnet-32.pth is the resnet32-cpu grid's CB softmax focal run: the same settings, and the
        # grid's save_best false turned on
        grid_run = [("loss_type", "Focal"), ("reweight", True), ("beta", 0.9999), ("gamma", 1.0), ("save_best", True)]
        self.assertEqual(self.load("config_resnet32.yaml"), self.load("longtail_resnet32_cpu.yaml", grid_run))

    def test_paper_schedule_config(self):
        values = self.load("longtail_paper.yaml")
        expected = dict(model="ResNet-32", imbalance="imbalance", imb_factor=0.01, epochs=200, batch_size=128,
                        learning_rate=0.1, warmup=5, steps=[160, 180], reg=0.0002, momentum=0.9)
        self.assertEqual({key: values[key] for key in expected}, expected)

    def test_my_model_config_loads(self):
        self.assertEqual(self.load("config_mymodel.yaml")["model"], "MyModel")

    def test_my_model_gpu_config_is_the_fast_path_on_the_balanced_set(self):
        values = self.load("config_mymodel_gpu.yaml")
        expected = dict(model="MyModel-GPU", imbalance="regular", amp="auto", channels_last=True,
                        compile="reduce-overhead", lr_schedule="linear", loss_type="CE", label_smoothing=0.2)
        self.assertEqual({key: values[key] for key in expected}, expected)

    def test_every_setting_is_filled_and_the_layout_round_trips(self):
        values = self.load("config_twolayer.yaml")
        self.assertEqual(set(values), set(config.SETTINGS))
        self.assertEqual((values["gamma"], values["reweight"], values["imb_type"]), (0.0, False, "exp"))
        sections = config.as_sections(values)
        self.assertEqual(list(sections), ["Train", "network", "data", "loss"])
        self.assertEqual(sections["Train"]["steps"], [6, 8])


KIT_TRAIN = "Train:\n  batch_size: 128\n  learning_rate: {rate}\n  reg: 0.0005\n  epochs: 10\n  steps: [6, 8]\n" \
            "  warmup: 0\n  momentum: 0.9\n"
KIT_LAYOUTS = {  # the files as each year's kit lays them out: the same keys, not always in the same section
    "two-layer": KIT_TRAIN.format(rate=0.1) + "network:\n  model: TwoLayerNet\n"
                 "data:\n  imbalance: regular\n  save_best: True\nloss:\n  loss_type: CE\n",
    "vanilla cnn": KIT_TRAIN.format(rate=0.0001) + "network:\n  model: VanillaCNN\n  save_best: True\n"
                   "data:\n  imbalance: regular\n  reweight: True\n  beta: 0.9999\nloss:\n  loss_type: CE\n",
    "my model": KIT_TRAIN.format(rate=0.0001) + "network:\n  model: MyModel\n"
                "data:\n  imbalance: regular\n  save_best: True\nloss:\n  loss_type: CE\n",
    "focal, later kit": KIT_TRAIN.format(rate=0.0001) + "  gamma: 2\nnetwork:\n  model: ResNet-32\n"
                        "data:\n  imbalance: imbalance\n  save_best: True\n"
                        "loss:\n  loss_type: Focal\n  reweight: True\n  beta: 0.999\n",
    "focal, later kit without reweight": KIT_TRAIN.format(rate=0.0001) + "  gamma: 1\nnetwork:\n  model: ResNet-32\n"
                                         "data:\n  imbalance: imbalance\n  save_best: True\n  beta: 0.9999\n"
                                         "loss:\n  loss_type: Focal\n",
    "focal without gamma": KIT_TRAIN.format(rate=0.0001) + "network:\n  model: ResNet-32\n"
                           "data:\n  imbalance: imbalance\n  save_best: True\n  reweight: False\n"
                           "loss:\n  loss_type: Focal\n",
}


class KitLayouts(unittest.TestCase):
    def load(self, layout):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "kit.yaml")
            with open(path, "w") as f:
                f.write(KIT_LAYOUTS[layout])
            return load_config(path)

    def test_a_key_may_sit_in_any_section(self):
        for layout, model in (("two-layer", "TwoLayerNet"), ("vanilla cnn", "VanillaCNN"), ("my model", "MyModel")):
            with self.subTest(layout=layout):
                values = self.load(layout)
                self.assertEqual({key: values[key] for key in KIT_SHARED}, KIT_SHARED)
                self.assertEqual(values["model"], model)
        vanilla = self.load("vanilla cnn")
        self.assertEqual((vanilla["reweight"], vanilla["beta"], vanilla["gamma"]), (True, 0.9999, 0.0))
        later = self.load("focal, later kit")
        self.assertEqual((later["loss_type"], later["gamma"], later["reweight"], later["beta"]),
                         ("Focal", 2.0, True, 0.999))

    def test_keys_the_kit_file_lacks_take_the_kit_behaviour(self):
        values = self.load("focal without gamma")  # the 2021 kit hard-codes FocalLoss(gamma=1)
        self.assertEqual((values["gamma"], values["reweight"], values["beta"]), (1.0, False, 0.9999))
        values = self.load("focal, later kit without reweight")  # its main.py weights Focal always
        self.assertEqual((values["gamma"], values["reweight"], values["beta"]), (1.0, True, 0.9999))
        loss = main.build_criterion(types.SimpleNamespace(**values), [5000, 2997, 50])
        torch.testing.assert_close(loss.weight, reweight([5000, 2997, 50], 0.9999))
        self.assertEqual((self.load("two-layer")["gamma"], self.load("two-layer")["reweight"]), (0.0, False))
        values = self.load("focal, later kit")  # no imbalance profile, no augmentation: the kit's 100:1 and its crop
        self.assertEqual({key: values[key] for key in ("imb_type", "imb_factor", "crop_padding", "flips")},
                         dict(imb_type="exp", imb_factor=0.01, crop_padding=4, flips="random"))

    def test_every_focal_config_names_what_a_kits_main_reads_for_its_loss(self):
        # a kit's main.py copies every key of every section onto its args and reads reweight and beta for a focal
        # loss (later kits gamma too): a file that leaves them to our defaults stops there with an AttributeError
        for name in sorted(os.listdir(CONFIGS)):
            with self.subTest(config=name), open(os.path.join(CONFIGS, name)) as f:
                keys = {key: value for section in yaml.safe_load(f).values() for key, value in section.items()}
                if keys["loss_type"] == "Focal":
                    self.assertLessEqual({"reweight", "beta", "gamma"}, set(keys))

    def test_the_shipped_kit_configs_are_the_kit_files(self):
        for name, layout in (("config_twolayer.yaml", "two-layer"), ("config_vanilla_cnn.yaml", "vanilla cnn")):
            with self.subTest(config=name), open(os.path.join(CONFIGS, name)) as f:
                self.assertEqual(yaml.safe_load(f), yaml.safe_load(KIT_LAYOUTS[layout]))


class Resuming(unittest.TestCase):
    def test_only_where_data_and_results_go_may_change(self):
        saved = load_config(os.path.join(CONFIGS, "config_twolayer.yaml"))
        self.assertEqual(config.resume_conflicts(saved, dict(saved, data_dir="elsewhere", compile="default",
                                                             save_best=False, epochs=20, test_every=5)), [])
        changed = dict(saved, learning_rate=0.2, amp=True)
        self.assertEqual(config.resume_conflicts(saved, changed), ["learning_rate", "amp"])
        linear = dict(saved, lr_schedule="linear")  # the linear schedule's rates depend on the number of epochs
        self.assertEqual(config.resume_conflicts(linear, dict(linear, epochs=20)), ["epochs"])
        averaged = dict(saved, lookahead=True)  # so does the weight averaging's
        self.assertEqual(config.resume_conflicts(averaged, dict(averaged, epochs=20)), ["epochs"])
        free = {"data_dir", "compile", "save_best", "overwrite_checkpoint", "test_every", "epochs"}
        for key in sorted(set(saved) - free):  # every other setting changes what the finished epochs computed
            with self.subTest(key=key):
                self.assertEqual(config.resume_conflicts(saved, dict(saved, **{key: object()})), [key])

    def test_a_run_saved_before_a_setting_existed_had_its_default(self):
        saved = load_config(os.path.join(CONFIGS, "config_twolayer.yaml"))
        older = {key: value for key, value in saved.items() if key != "reweight_from"}
        self.assertEqual(config.resume_conflicts(older, saved), [])
        self.assertEqual(config.resume_conflicts(older, dict(saved, reweight=True, reweight_from=3)),
                         ["reweight", "reweight_from"])


class BadConfigs(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def write(self, text):
        path = os.path.join(self.folder.name, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def with_change(self, old, new):
        self.assertIn(old, VALID)
        return self.write(VALID.replace(old, new))

    def assert_error(self, path, *fragments, overrides=()):
        with self.assertRaises(ConfigError) as caught:
            load_config(path, overrides)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_values_out_of_range_or_of_the_wrong_type(self):
        cases = [  # (text in VALID, replacement, fragments of the message: key, value, what is allowed)
            ("learning_rate: 0.1", "learning_rate: -0.1", ["Train.learning_rate", "-0.1", "a number > 0"]),
            ("learning_rate: 0.1", "learning_rate: fast", ["Train.learning_rate", "'fast'", "a number > 0"]),
            ("batch_size: 128", "batch_size: 12.5", ["Train.batch_size", "12.5", "an integer >= 1"]),
            ("batch_size: 128", "batch_size: true", ["Train.batch_size", "True", "an integer >= 1"]),
            ("epochs: 10", "epochs: 0", ["Train.epochs", "0", "an integer >= 1"]),
            ("reg: 0.0005", "reg: -1", ["Train.reg", "-1", ">= 0"]),
            ("momentum: 0.9", "momentum: 1.0", ["Train.momentum", "1.0", "[0, 1)"]),
            ("warmup: 0", "warmup: -2", ["Train.warmup", "-2", ">= 0"]),
            ("steps: [6, 8]", "steps: [8, 6]", ["Train.steps", "[8, 6]", "increasing"]),
            ("steps: [6, 8]", "steps: [6, 6]", ["Train.steps", "[6, 6]", "increasing"]),
            ("steps: [6, 8]", "steps: [0, 5]", ["Train.steps", "[0, 5]", "1 <= a < b"]),  # x0.1 from the start
            ("steps: [6, 8]", "steps: [2, 4, 6]", ["Train.steps", "[2, 4, 6]", "two increasing"]),
            ("steps: [6, 8]", "steps: 6", ["Train.steps", "6", "two increasing"]),
            ("model: TwoLayerNet", "model: ResNet-33", ["network.model", "'ResNet-33'", "ResNet-32", "TwoLayerNet"]),
            ("loss_type: CE", "loss_type: Hinge", ["loss.loss_type", "'Hinge'", "CE, Focal, SigmoidFocal"]),
            ("loss_type: CE", "loss_type: CE, gamma: -1", ["loss.gamma", "-1", "[0, 1000]"]),
            ("loss_type: CE", "loss_type: Focal, gamma: 1.0e+39", ["loss.gamma", "1e+39", "[0, 1000]"]),
            ("loss_type: CE", "loss_type: CE, beta: 1.0", ["loss.beta", "1.0", "[0, 1)"]),
            ("loss_type: CE", "loss_type: CE, beta: -0.5", ["loss.beta", "-0.5", "[0, 1)"]),
            ("loss_type: CE", "loss_type: CE, reweight: yes please",
             ["loss.reweight", "'yes please'", "true or false"]),
            ("save_best: true", "save_best: 1", ["data.save_best", "1", "true or false"]),
            ("imbalance: regular", "imbalance: 3", ["data.imbalance", "3", "regular for CIFAR-10's, or any other text"]),
            ("save_best: true", "save_best: true, imb_factor: 0", ["data.imb_factor", "0", "(0, 1]"]),
            ("save_best: true", "save_best: true, imb_factor: 1.5", ["data.imb_factor", "1.5", "(0, 1]"]),
            ("save_best: true", "save_best: true, imb_type: linear", ["data.imb_type", "'linear'", "exp, step"]),
            ("warmup: 0", "warmup: 0, lr_schedule: cosine", ["Train.lr_schedule", "'cosine'", "step, linear"]),
            ("save_best: true", "save_best: true, crop_padding: -1", ["data.crop_padding", "-1", ">= 0"]),
            ("save_best: true", "save_best: true, flips: sometimes",
             ["data.flips", "'sometimes'", "random, alternate"]),
            ("warmup: 0", "warmup: 0, lookahead: 5", ["Train.lookahead", "5", "true or false"]),
            ("loss_type: CE", "loss_type: CE, label_smoothing: 1.0", ["loss.label_smoothing", "1.0", "[0, 1)"]),
            ("model: TwoLayerNet", "model: TwoLayerNet, channels_last: 2", ["network.channels_last", "true or false"]),
            ("warmup: 0", "warmup: 0, amp: maybe", ["Train.amp", "'maybe'", "true, false or auto"]),
            ("warmup: 0", "warmup: 0, test_every: 0", ["Train.test_every", "0", "an integer >= 1"]),
            ("save_best: true", 'save_best: true, data_dir: "a\\0b"', ["data.data_dir", "'a\\x00b'", "no control"]),
            ("save_best: true", 'save_best: true, data_dir: "D:\\new\\tmp"',  # a Windows path in double quotes
             ["data.data_dir", "'D:\\new\\tmp'", "a newline and a tab", "in single quotes"]),
            *([("save_best: true", 'save_best: true, data_dir: "a\\ud800b"', ["data.data_dir", "the file system"])]
              if os.name == "posix" else []),  # Windows names may hold a lone surrogate (PEP 529): taken there
            ("save_best: true", "save_best: true, data_dir: ''", ["data.data_dir", "not blank"]),
            ("save_best: true", "save_best: true, data_dir: '   '", ["data.data_dir", "'   '", "not blank"]),
            # allowed one by one, not together
            ("momentum: 0.9", "momentum: 0, nesterov: true", ["nesterov", "momentum > 0"]),
            ("loss_type: CE", "loss_type: Focal, label_smoothing: 0.1", ["label_smoothing", "Focal", "loss_type CE"]),
        ]
        for old, new, fragments in cases:
            with self.subTest(new=new):
                self.assert_error(self.with_change(old, new), *fragments)

    def test_settings_allowed_alone_but_not_together(self):
        for old, new, fragments in (
                ("loss_type: CE", "loss_type: CE, reweight_from: 2", ["reweight_from = 2", "reweight = True"]),
                ("loss_type: CE", "loss_type: SigmoidFocal, label_smoothing: 0.1",
                 ["label_smoothing = 0.1", "loss_type SigmoidFocal"]),
                ("loss_type: CE", "loss_type: Focal, label_smoothing: 0.1", ["loss_type Focal"]),
                ("imbalance: regular", "imbalance: imbalance, imb_factor: 0.00019",
                 ["imb_factor = 0.00019", "at least 0.0002"]),
                ("learning_rate: 0.1", "learning_rate: true", ["learning_rate"]),  # no boolean is a number
                ("save_best: true", "save_best: true, crop_padding: 33", ["crop_padding"]),
                # weight decay that alone makes the weights grow: learning_rate 0.1 x reg against 2 (1 + 0.9)
                ("reg: 0.0005", "reg: 38", ["Train.reg = 38", "below 3.8 at momentum 0.9;", "lower reg"]),
                ("reg: 0.0005", "reg: 14, nesterov: true",
                 ["Train.reg = 14", "below 1.36 at momentum 0.9 with Nesterov"])):
            with self.subTest(new=new):
                self.assert_error(self.with_change(old, new), *fragments)

    def test_the_weight_decay_bound_is_where_torchs_sgd_turns_unstable(self):
        for momentum, nesterov in ((0.0, False), (0.9, False), (0.5, True), (0.9, True)):
            limit = 2 * (1 + momentum) / (1 + 2 * momentum if nesterov else 1)
            for scale, grows in ((0.98, False), (1.02, True)):
                with self.subTest(momentum=momentum, nesterov=nesterov, scale=scale):
                    weight = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
                    optimiser = torch.optim.SGD([weight], lr=0.1, momentum=momentum, nesterov=nesterov,
                                                weight_decay=limit / 0.1 * scale)
                    for _ in range(2000):  # no loss: the decay term alone moves the weight
                        weight.grad = torch.zeros_like(weight)
                        optimiser.step()
                    self.assertEqual(abs(weight.item()) > 1, grows)
        # just inside the bound, a config is taken
        self.assertEqual(load_config(self.with_change("reg: 0.0005", "reg: 37.9"))["reg"], 37.9)
        self.assertEqual(load_config(self.with_change("reg: 0.0005", "reg: 13.5, nesterov: true"))["reg"], 13.5)

    def test_edges_that_are_allowed(self):
        path = self.with_change("save_best: true", "save_best: true, imb_factor: 1, imb_type: step")
        self.assertEqual(load_config(path)["imb_factor"], 1.0)
        # YAML 1.1 reads 1e-4 (no dot) as a string: it still means the number.
        self.assertEqual(load_config(self.with_change("learning_rate: 0.1", "learning_rate: 1e-4"))["learning_rate"],
                         1e-4)
        self.assertEqual(load_config(self.with_change("momentum: 0.9", "momentum: 0"))["momentum"], 0.0)
        self.assertEqual(load_config(self.with_change("warmup: 0", "warmup: 0, amp: auto"))["amp"], "auto")
        self.assertEqual(load_config(self.with_change("warmup: 0", "warmup: 0, test_every: 5"))["test_every"], 5)
        for old, new, key, value in (
                ("imbalance: regular", "imbalance: imbalance, imb_factor: 0.0002", "imb_factor", 0.0002),  # 1 image
                ("save_best: true", "save_best: true, imb_factor: 0.00001", "imb_factor", 1e-5),  # unused: balanced
                ("save_best: true", "save_best: true, crop_padding: 32", "crop_padding", 32)):
            with self.subTest(new=new):
                self.assertEqual(load_config(self.with_change(old, new))[key], value)

    def test_any_imbalance_but_regular_is_the_long_tailed_set_as_in_the_kit(self):
        with tempfile.TemporaryDirectory() as root:
            folder, _, _ = write_cifar_folder(root)  # 30 training images a class
            for text in ("regular", "imbalance", "imbalanced", "long-tailed"):
                with self.subTest(imbalance=text):
                    values = load_config(self.with_change("imbalance: regular", f"imbalance: {text}"),
                                         [("data_dir", folder), ("imb_factor", 0.001)])
                    self.assertEqual(values["imbalance"], text)
                    counts = np.bincount(main.load_training_set(types.SimpleNamespace(**values)).targets)
                    self.assertEqual(counts[-1], 30 if text == "regular" else int(5000 * 0.001))  # trucks

    def test_unknown_keys_and_a_key_given_twice(self):
        self.assert_error(self.with_change("learning_rate:", "learnin_rate:"), "'learnin_rate'",
                          "did you mean learning_rate?")
        # a mistyped choice gets the closest one; nothing close, or not text, gets none
        self.assert_error(self.with_change("model: TwoLayerNet", "model: ResNet32"), "did you mean ResNet-32?")
        self.assert_error(self.with_change("loss_type: CE", "loss_type: focal"), "did you mean Focal?")
        for far in ("model: Transformer", "model: 32"):
            with self.assertRaises(ConfigError) as caught:
                load_config(self.with_change("model: TwoLayerNet", far))
            self.assertNotIn("did you mean", str(caught.exception))
        self.assert_error(self.with_change("loss_type: CE", "loss_type: CE, epochs: 3"),
                          "epochs is given twice", "Train.epochs = 10", "loss.epochs = 3")
        self.assert_error(self.write(VALID + "Training: {epochs: 3}\n"), "unknown section 'Training'", "Train")
        # the same value twice is one setting, not a conflict
        self.assertEqual(load_config(self.with_change("loss_type: CE", "loss_type: CE, epochs: 10"))["epochs"], 10)

    def test_huge_or_deep_documents_give_short_messages(self):
        bomb = "&a [x, x, x, x, x, x, x, x, x]"  # each level repeats the last nine times: 9^9 leaves in ~300 bytes
        for level, previous in zip("bcdefghi", "abcdefgh"):
            bomb = f"&{level} [{bomb}, " + ", ".join([f"*{previous}"] * 8) + "]"
        started = time.perf_counter()
        self.assert_error(self.with_change("model: TwoLayerNet", "model: " + bomb), "network.model", "...")
        self.assertLess(time.perf_counter() - started, 5)
        self.assert_error(self.with_change("model: TwoLayerNet", "model: " + "x" * 5000), "network.model", "...")
        self.assert_error(self.write("Train: " + "[" * 40000 + "]" * 40000 + "\n"), "larger than 64 KiB")
        self.assert_error(self.write("Train: " + "[" * 5000 + "]" * 5000 + "\n"), "nested too deeply")

    def test_a_key_given_twice_in_one_mapping_is_refused_not_overwritten(self):
        self.assert_error(self.with_change("reg: 0.0005,", "reg: 0.0005, reg: 0.5,"), "'reg' is given twice",
                          "line 2", "keep one")
        self.assert_error(self.write(VALID + "Train: {epochs: 3}\n"), "'Train' is given twice", "line 6")
        self.assert_error(self.write(VALID.replace("loss_type: CE", "loss_type: CE, 'loss_type': Focal")),
                          "'loss_type' is given twice", "line 5")
        self.assertEqual(load_config(self.write(VALID + "# Train: {epochs: 3}\n"))["epochs"], 10)  # a comment

    def test_missing_required_key(self):
        self.assert_error(self.with_change(" momentum: 0.9", ""), "missing required key Train.momentum", "[0, 1)")
        self.assert_error(self.with_change("network: {model: TwoLayerNet}", ""), "network.model")

    def test_unreadable_or_malformed_files(self):
        self.assert_error(os.path.join(self.folder.name, "absent.yaml"), "cannot read config", "absent.yaml")
        self.assert_error(self.folder.name, "cannot read config")  # a folder
        self.assert_error("a\x00b.yaml", "cannot read config 'a\\x00b.yaml': no file can have that name")
        self.assert_error(self.write("Train: {batch_size: 128\n  epochs: [\n"), "not valid YAML", "line")
        self.assert_error(self.write("- Train\n- network\n"), "expected a mapping")
        self.assert_error(self.write(""), "expected a mapping")
        self.assert_error(self.write(VALID.replace("network: {model: TwoLayerNet}", "network: TwoLayerNet")),
                          "section network", "expected a mapping")
        marker = os.path.join(self.folder.name, "ran")
        self.assert_error(self.write(f"Train: !!python/object/apply:os.system ['touch {marker}']\n"), "not valid YAML")
        self.assertFalse(os.path.exists(marker))  # nothing in a config runs

    def test_values_yaml_itself_cannot_read_or_no_float_can_hold(self):
        # YAML's own types raise ValueError (a date, a tag, over 4,300 digits); a 309-digit integer overflows float
        for text, fragments in (("warmup: 0, data_dir: 2024-13-45", ["a value YAML cannot read", "month"]),
                                ("warmup: !!int many", ["a value YAML cannot read", "many"]),
                                ("warmup: !!float many", ["a value YAML cannot read", "many"]),
                                ("warmup: " + "1" * 5000, ["a value YAML cannot read", "4300"]),
                                ("learning_rate: 1" + "0" * 309, ["Train.learning_rate", "not allowed", "> 0"])):
            with self.subTest(text=text[:40]):
                old = "learning_rate: 0.1" if text.startswith("learning_rate") else "warmup: 0"
                self.assert_error(self.with_change(old, text), *fragments)
        for key, text in (("learning_rate", "1" + "0" * 309), ("learning_rate", "1" * 5000), ("epochs", "2024-13-45")):
            with self.subTest(key=key, text=text[:40]), self.assertRaises(ConfigError):
                load_config(self.with_change("warmup: 0", "warmup: 0"), [(key, config.parse_value(text, key))])

    def test_tagged_values_pyyaml_itself_fails_on_are_one_line(self):
        # PyYAML's constructors raise KeyError (!!bool maybe), IndexError (!!int '') or AttributeError (!!timestamp)
        for tagged in ("!!bool maybe", "!!int ''", "!!float ''", "!!timestamp abc"):
            with self.subTest(tagged=tagged):
                self.assert_error(self.with_change("warmup: 0", f"warmup: {tagged}"), "a value YAML cannot read")
                with self.assertRaisesRegex(ConfigError, "Train.warmup = .* is not allowed"):  # --set: as text
                    load_config(self.write(VALID), [config.parse_override(f"warmup={tagged}")])

    def test_integers_past_a_billion_or_past_printing_are_refused_in_one_line(self):
        huge = "0x" + "f" * 5000  # YAML reads hex of any length; Python will not print it in decimal
        self.assert_error(self.with_change("warmup: 0", "warmup: 1" + "0" * 400), "Train.warmup", "<= 1,000,000,000")
        for old, new in (("warmup: 0", f"warmup: {huge}"), ("learning_rate: 0.1", f"learning_rate: {huge}"),
                         ("steps: [6, 8]", f"steps: [1, {huge}]")):
            with self.subTest(new=new[:20]):
                self.assert_error(self.with_change(old, new), "<an integer of 20,000 bits>", "plain decimal")
        self.assert_error(self.write(f"Train:\n  ? {huge}\n  : 1\n"), "unknown key <an integer of")  # a long key: ?
        self.assert_error(self.write(f"? {huge}\n: {{epochs: 1}}\n"), "unknown section <an integer of")
        for key in ("reweight_from", "epochs", "batch_size"):
            with self.subTest(key=key), self.assertRaisesRegex(ConfigError, "<an integer of 20,000 bits>"):
                load_config(self.write(VALID), [config.parse_override(f"{key}={huge}")])

    def test_numbers_in_a_base_or_form_few_mean_are_refused_not_read(self):
        # YAML 1.1 reads 1:00 as 60 (minutes:seconds), 010 as 8, 0x10 as 16, 0b11 as 3 and 1_0 as 10
        for text, read_as in (("1:00", 60), ("010", 8), ("0x10", 16), ("0b11", 3), ("1_0", 10), ("1_0.5", 10.5)):
            with self.subTest(text=text):
                key = "learning_rate" if "." in text else "epochs"
                old = "learning_rate: 0.1" if key == "learning_rate" else "epochs: 10"
                self.assert_error(self.with_change(old, f"{key}: {text}"), f"{text} at line",
                                  f"YAML reads as {read_as}", "write it in plain decimal")
                with self.assertRaises(ConfigError) as caught:
                    config.parse_override(f"{key}={text}")
                self.assertTrue(str(caught.exception).startswith(f"command line: {key} = {text} is a number YAML "
                                                                 f"reads as {read_as}"), caught.exception)
        self.assert_error(self.with_change("steps: [6, 8]", "steps: [6, 010]"), "010 at line")
        for text in ("'1_0'", "'0x10'", "' 1e-3x'"):  # quoted: text, which a number setting refuses
            with self.subTest(text=text):
                self.assert_error(self.with_change("learning_rate: 0.1", f"learning_rate: {text}"),
                                  "Train.learning_rate", "not allowed")
        plain = (("learning_rate: 1e-3", 0.001), ("learning_rate: .5", 0.5), ("learning_rate: +2.", 2.0),
                 ("learning_rate: '1E-3'", 0.001), ("learning_rate: 0", None))
        for text, value in plain[:-1]:  # the plain forms still read as the numbers they show
            with self.subTest(text=text):
                self.assertEqual(load_config(self.with_change("learning_rate: 0.1", text))["learning_rate"], value)
        self.assertEqual(config.parse_override("epochs=0"), ("epochs", 0))  # left for the setting to refuse


class Overrides(unittest.TestCase):
    def setUp(self):
        self.path = os.path.join(CONFIGS, "config_twolayer.yaml")

    def test_values_are_read_as_yaml_and_checked(self):
        overrides = [config.parse_override("epochs=2"), config.parse_override("Train.steps=[1, 2]"),
                     ("gamma", config.parse_value("1.5")), config.parse_override("loss_type=Focal")]
        values = load_config(self.path, overrides)
        self.assertEqual((values["epochs"], values["steps"], values["gamma"], values["loss_type"]),
                         (2, [1, 2], 1.5, "Focal"))

    def test_a_folder_from_the_command_line_is_taken_as_written(self):
        for text in ("on", "2024", "null", "#x", "a: b", "my data #2", "[1, 2]", " spaced "):
            with self.subTest(text=text):
                self.assertEqual(config.parse_override(f"data_dir={text}"), ("data_dir", text))
                self.assertEqual(config.parse_override(f"data.data_dir={text}"), ("data_dir", text))
                self.assertEqual(config.parse_value(text, "data_dir"), text)
                self.assertEqual(load_config(self.path, [("data_dir", text)])["data_dir"], text)
        args = main.parse_arguments(["--config", self.path, "--data-dir", "on", "--set", "data_dir=2024"])
        self.assertEqual(args.overrides, [("data_dir", "on"), ("data_dir", "2024")])
        self.assertEqual(config.parse_override("epochs=2"), ("epochs", 2))  # other settings: still YAML

    def test_an_override_names_its_key_as_the_file_or_the_flag_does(self):
        for text in ("learning_rate=0.2", "Train.learning_rate=0.2", "learning-rate=0.2", "Train.learning-rate = 0.2"):
            with self.subTest(text=text):
                self.assertEqual(config.parse_override(text), ("learning_rate", 0.2))
        self.assertEqual(config.parse_value(""), "")  # nothing given stays text, for the setting to refuse
        self.assertEqual(config.parse_value("[6, 8]"), [6, 8])

    def test_the_last_override_wins(self):
        self.assertEqual(load_config(self.path, [("epochs", 3), ("epochs", 4)])["epochs"], 4)

    def test_bad_overrides_name_the_command_line(self):
        for overrides, fragments in (([("epochs", "two")], ["command line", "Train.epochs", "'two'"]),
                                     ([("epoch", 2)], ["command line", "'epoch'", "epochs"]),
                                     ([("imb_factor", 2.0)], ["data.imb_factor", "2.0", "(0, 1]"])):
            with self.subTest(overrides=overrides), self.assertRaises(ConfigError) as caught:
                load_config(self.path, overrides)
            for fragment in fragments:
                self.assertIn(fragment, str(caught.exception))
        with self.assertRaises(ConfigError):
            config.parse_override("epochs")
        for text, fragments in (("Trian.epochs=2", ["unknown section 'Trian'", "did you mean Train?"]),
                                ("a.b.epochs=3", ["unknown section 'a.b'", "sections: Train, network, data, loss"])):
            with self.subTest(text=text), self.assertRaises(ConfigError) as caught:
                config.parse_override(text)
            for fragment in fragments:
                self.assertIn(fragment, str(caught.exception))
        self.assertEqual(config.parse_override("data.epochs=2"), ("epochs", 2))  # any section, as in a file


class BuiltFromTheConfig(unittest.TestCase):
    """Each setting reaches what main.py builds from it."""

    @classmethod
    def setUpClass(cls):
        cls.temporary = tempfile.TemporaryDirectory()
        cls.folder, _, _ = write_cifar_folder(cls.temporary.name)  # 30 training images a class
        cls.path = os.path.join(cls.temporary.name, "kit.yaml")
        with open(cls.path, "w") as f:
            f.write(VALID)

    @classmethod
    def tearDownClass(cls):
        cls.temporary.cleanup()

    def args(self, **settings):
        return config.run_arguments(self.path, [("data_dir", self.folder), *settings.items()],
                                    device=torch.device("cpu"))

    def test_the_loss_takes_reweight_beta_and_gamma(self):
        counts = [5000, 2997, 50]
        for loss_type in ("CE", "Focal", "SigmoidFocal"):
            with self.subTest(loss_type=loss_type):
                gamma = 0.0 if loss_type == "CE" else 2.0
                loss = main.build_criterion(self.args(loss_type=loss_type, reweight=True, beta=0.9, gamma=gamma),
                                            counts)
                torch.testing.assert_close(loss.weight, reweight(counts, 0.9))
                self.assertEqual(getattr(loss, "gamma", 0.0), gamma)
                loss = main.build_criterion(self.args(loss_type=loss_type, reweight=False, gamma=gamma), counts)
                self.assertIsNone(loss.weight)
        self.assertEqual(self.args(loss_type="SigmoidFocal").gamma, 1.0)  # as Focal: the kit's gamma 1

    def test_cross_entropy_takes_label_smoothing(self):
        torch.manual_seed(0)
        logits, labels = torch.randn(6, 10), torch.randint(0, 10, (6,))
        for smoothing in (0.0, 0.2):
            loss = main.build_criterion(self.args(label_smoothing=smoothing), [30] * 10)
            torch.testing.assert_close(loss(logits, labels), F.cross_entropy(logits, labels, label_smoothing=smoothing))

    def test_the_long_tailed_set_takes_its_profile_and_factor(self):
        for imb_type in ("exp", "step"):
            with self.subTest(imb_type=imb_type):
                args = self.args(imbalance="imbalance", imb_type=imb_type, imb_factor=0.001)
                rule = [int(5000 * 0.001 ** (i / 9)) for i in range(10)] if imb_type == "exp" else [5000] * 5 + [5] * 5
                counts = np.bincount(main.load_training_set(args).targets, minlength=10).tolist()
                self.assertEqual(counts, [min(30, count) for count in rule])  # the folder holds 30 a class

    def test_the_optimiser_takes_rate_momentum_decay_and_nesterov(self):
        training = main.build_training(self.args(learning_rate=0.05, momentum=0.8, reg=0.001, nesterov=True),
                                       torch.device("cpu"))
        group = training.optimizer.param_groups[0]
        self.assertEqual((group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]),
                         (0.05, 0.8, 0.001, True))

    def test_the_graded_checkpoints_are_named_as_in_the_kit(self):
        for model, name in (("TwoLayerNet", "twolayernet.pth"), ("VanillaCNN", "vanillacnn.pth"),
                            ("MyModel", "mymodel.pth"), ("ResNet-32", "resnet-32.pth")):
            self.assertEqual(run_state.graded_path(types.SimpleNamespace(model=model)),
                             os.path.join("checkpoints", name))



class Notes(unittest.TestCase):
    def test_a_warmup_the_run_completes_gets_no_note_and_one_past_its_end_does(self):
        settings = load_config(None, [("model", "TwoLayerNet"), ("loss_type", "CE"), ("imbalance", "regular"),
                                      ("save_best", False), ("batch_size", 8), ("learning_rate", 0.1),
                                      ("reg", 0.0), ("steps", [6, 8]), ("momentum", 0.9), ("epochs", 3)],
                               required=False)
        for warmup, said in ((3, []), (4, ["warmup 4 is longer than the run's 3 epochs"])):
            with self.subTest(warmup=warmup):
                notes = config.notes(dict(settings, warmup=warmup))
                self.assertEqual([note[:len(said[0])] for note in notes] if said else notes, said)

if __name__ == "__main__":
    unittest.main()
