import os
import unittest

import torch
import torch.nn.functional as F
from torch import nn

import checkpointing
import models
from models import MODEL_BUILDERS, MyModel, TwoLayerNet, VanillaCNN
from models.resnet import PadShortcut
from tests.helpers import PART2

# Option-A ResNets have no shortcut parameters: 6n + 2 layers give these counts (He et al. 2016, table 6).
# (272,474 for ResNet-20, sometimes quoted, is the count with option-B projection shortcuts.)
RESNET_PARAMETERS = {"resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018,
                     "resnet110": 1_727_962, "resnet1202": 19_421_274}


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def patch_covariance(images):
    patches = F.unfold(images.double(), kernel_size=2).transpose(1, 2).reshape(-1, 12)
    patches = patches - patches.mean(dim=0)
    return patches.T @ patches / len(patches)


def patch_eigenvalues(images):
    return torch.linalg.eigvalsh(patch_covariance(images))  # ascending


def patch_eigenvectors(images):
    return torch.linalg.eigh(patch_covariance(images)).eigenvectors  # columns, by ascending eigenvalue


class ModelShapes(unittest.TestCase):
    def test_every_model_gives_logits_for_ten_classes(self):
        images = torch.randn(3, 3, 32, 32)
        for name, build in MODEL_BUILDERS.items():
            if name == "ResNet-1202":
                continue  # 1,202 layers: counted below, too slow to run here
            with self.subTest(model=name):
                model = build().eval()
                with torch.no_grad():
                    self.assertEqual(tuple(model(images).shape), (3, 10))

    def test_exports(self):
        for name in ("TwoLayerNet", "VanillaCNN", "MyModel", "resnet20", "resnet32", "resnet44", "resnet56",
                     "resnet110", "resnet1202"):
            self.assertTrue(callable(getattr(models, name)), name)


class ParameterCounts(unittest.TestCase):
    def test_resnets(self):
        for name, expected in RESNET_PARAMETERS.items():
            with self.subTest(model=name), torch.device("meta"):  # meta: shapes only, nothing allocated
                self.assertEqual(parameter_count(getattr(models, name)()), expected)

    def test_kit_baselines(self):
        self.assertEqual(parameter_count(TwoLayerNet(3072, 256, 10)), 3072 * 256 + 256 + 256 * 10 + 10)
        self.assertEqual(parameter_count(MODEL_BUILDERS["TwoLayerNet"]()), 789_258)  # TwoLayerNet(3072, 256, 10)
        self.assertEqual(parameter_count(VanillaCNN()), 32 * 3 * 7 * 7 + 32 + 5408 * 10 + 10)

    def test_my_model_is_compact(self):
        self.assertLess(parameter_count(MyModel()), 5_000_000)


class Architectures(unittest.TestCase):
    def test_two_layer_net_is_linear_sigmoid_linear_on_the_flattened_image(self):
        torch.manual_seed(0)
        net, x = TwoLayerNet(3072, 16, 10), torch.randn(4, 3, 32, 32)
        expected = torch.sigmoid(x.reshape(4, -1) @ net.fc1.weight.T + net.fc1.bias) @ net.fc2.weight.T + net.fc2.bias
        torch.testing.assert_close(net(x), expected)

    def test_vanilla_cnn_layers(self):
        torch.manual_seed(0)
        net, x = VanillaCNN(), torch.randn(2, 3, 32, 32)
        self.assertEqual((net.conv1.kernel_size, net.conv1.stride, net.conv1.padding), ((7, 7), (1, 1), (0, 0)))
        features = F.max_pool2d(F.relu(F.conv2d(x, net.conv1.weight, net.conv1.bias)), 2, 2)
        torch.testing.assert_close(net(x), F.linear(features.flatten(1), net.fc.weight, net.fc.bias))

    def test_resnet32_layout(self):
        net = models.resnet32()
        self.assertIsInstance(net.linear, nn.Linear)
        self.assertEqual((net.linear.in_features, net.linear.out_features), (64, 10))
        self.assertEqual((net.conv1.in_channels, net.conv1.out_channels, net.conv1.kernel_size), (3, 16, (3, 3)))
        self.assertEqual([len(stage) for stage in (net.layer1, net.layer2, net.layer3)], [5, 5, 5])
        self.assertEqual([net.layer2[0].conv1.stride, net.layer3[0].conv1.stride], [(2, 2), (2, 2)])
        self.assertEqual(net.layer3[-1].conv2.out_channels, 64)

    def test_option_a_shortcut_subsamples_and_zero_pads_channels(self):
        x = torch.randn(2, 16, 32, 32)
        out = PadShortcut(16)(x)
        self.assertEqual(tuple(out.shape), (2, 32, 16, 16))
        torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
        self.assertEqual(out[:, :8].abs().sum().item(), 0)
        self.assertEqual(out[:, 24:].abs().sum().item(), 0)

    def test_resnet_kaiming_normal_init(self):
        torch.manual_seed(0)
        net = models.resnet32()
        conv = net.layer3[-1].conv2.weight  # 64 x 64 x 3 x 3: fan_in 576
        self.assertAlmostEqual(conv.std().item(), (2 / 576) ** 0.5, delta=0.03 * (2 / 576) ** 0.5)
        self.assertAlmostEqual(net.linear.weight.std().item(), (2 / 64) ** 0.5, delta=0.15 * (2 / 64) ** 0.5)
        # normal, not uniform of the same spread: 4.55% of a normal lies beyond 2 sigma, none of a uniform does
        scaled = torch.cat([m.weight.flatten() / (2 / m.weight[0].numel()) ** 0.5 for m in net.modules()
                            if isinstance(m, (nn.Conv2d, nn.Linear))])
        self.assertAlmostEqual((scaled.abs() > 2).float().mean().item(), 0.0455, delta=0.004)

    def test_resnet_forward_is_he_et_als_cifar_resnet(self):
        def batch_norm(layer, x):
            return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0.0,
                                layer.eps)

        def reference(net, x):  # section 4.2 of the paper, written out: post-activation blocks, option A
            out = F.relu(batch_norm(net.bn1, F.conv2d(x, net.conv1.weight, padding=1)))
            for block in [*net.layer1, *net.layer2, *net.layer3]:
                h = F.relu(batch_norm(block.bn1, F.conv2d(out, block.conv1.weight, stride=block.conv1.stride,
                                                          padding=1)))
                h = batch_norm(block.bn2, F.conv2d(h, block.conv2.weight, padding=1))
                shortcut = out
                if h.shape != out.shape:  # half the size, twice the channels: subsample, zeros on both sides
                    extra = h.shape[1] - out.shape[1]
                    zeros = out.new_zeros(out.shape[0], extra // 2, *h.shape[2:])
                    shortcut = torch.cat([zeros, out[:, :, ::2, ::2], zeros], dim=1)
                out = F.relu(h + shortcut)
            return F.linear(out.mean(dim=(2, 3)), net.linear.weight, net.linear.bias)

        torch.manual_seed(0)
        net = models.resnet32().eval()
        for module in net.modules():  # batch statistics other than the identity, so that a misplaced BN shows
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.5, 0.5)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(net(x), reference(net, x))

    def test_my_model_averages_an_image_and_its_mirror_in_eval_mode_only(self):
        torch.manual_seed(0)
        net, x = MyModel(), torch.randn(4, 3, 32, 32)
        self.assertTrue(torch.equal(net(x), net.logits(x)))  # training: one view (BN in batch mode both times)
        net.eval()
        with torch.no_grad():
            expected = (net.logits(x) + net.logits(x.flip(3))) / 2
            torch.testing.assert_close(net(x), expected)
            torch.testing.assert_close(net(x.flip(3)), net(x))  # a mirror pair gets the same prediction
            self.assertFalse(torch.allclose(net.logits(x), net(x)))

    def test_my_model_shifted_views_are_one_pixel_shifts_of_the_image_and_its_mirror(self):
        net = MyModel(shifted_views=True).eval()
        net.logits = lambda x: x[:, 0, 1, 1:2]  # "logits": the pixel at row 1, column 1 (a view's position)
        x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
        plane = x[:, 0]
        # unshifted (1, 1) and its mirror (1, 2); shifted up-left: (0, 0) and mirrored (0, 3); down-right (2, 2)
        # and mirrored (2, 1): the unshifted pair weighs 1/4 each, each shifted view 1/8
        expected = ((plane[:, 1, 1] + plane[:, 1, 2]) / 4
                    + (plane[:, 0, 0] + plane[:, 0, 3] + plane[:, 2, 2] + plane[:, 2, 1]) / 8)
        torch.testing.assert_close(net(x)[:, 0], expected)
        net.train()
        torch.testing.assert_close(net(x)[:, 0], plane[:, 1, 1])  # training: the image alone

    def test_my_model_reflects_at_the_border_for_a_shifted_view(self):
        net = MyModel(shifted_views=True).eval()
        net.logits = lambda x: x[:, 0, 0, 0:1]  # the top-left pixel
        x = torch.randn(2, 3, 4, 4)
        plane = x[:, 0]
        # up-left shift: reflection puts pixel (1, 1) at the corner; mirrored: (1, 2); down-right: (1, 1) again,
        # mirrored: (1, 2)
        expected = (plane[:, 0, 0] + plane[:, 0, 3]) / 4 + (2 * plane[:, 1, 1] + 2 * plane[:, 1, 2]) / 8
        torch.testing.assert_close(net(x)[:, 0], expected)

    def test_my_model_widths(self):
        torch.manual_seed(0)
        net = MyModel(widths=(8, 16, 32))
        self.assertEqual([stage.refine[0].out_channels for stage in net.stages], [16, 32])
        self.assertEqual(tuple(net(torch.randn(2, 3, 32, 32)).shape), (2, 10))
        self.assertEqual([name for name, _ in MyModel().state_dict().items()][:3],
                         ["stem.0.weight", "stem.1.weight", "stem.1.bias"])  # the shipped checkpoint's keys
        for widths in ((8,), (8, 0), (8, 16.5), "16"):
            with self.subTest(widths=widths), self.assertRaises(ValueError):
                MyModel(widths=widths)

    def test_a_whitened_stem_whitens_the_patches_it_was_fitted_to_and_stays_fixed(self):
        torch.manual_seed(0)
        base = torch.randn(200, 3, 8, 8)
        images = base + 0.8 * base.roll(1, dims=3) + 0.5 * base[:, :1]  # neighbours and channels correlated
        net = MyModel(widths=(24, 16, 16), whitened_stem=True)
        self.assertTrue(net.stem.conv.weight.requires_grad)  # a learned conv until it is fitted
        net.fit_stem(images)
        weight = net.stem.conv.weight
        self.assertTrue(torch.equal(weight[12:], -weight[:12]))
        self.assertFalse(weight.requires_grad)
        features = F.conv2d(images, weight).permute(0, 2, 3, 1).reshape(-1, 24)[:, :12].double()
        features = features - features.mean(dim=0)
        covariance = features.T @ features / len(features)
        # uncorrelated, and component i's variance is eigenvalue / (eigenvalue + eps), eps = 5e-4
        torch.testing.assert_close(covariance, torch.diag(covariance.diagonal()), atol=1e-5, rtol=0)
        eigenvalues = patch_eigenvalues(images).flip(0)  # the strongest first, as the filters are
        torch.testing.assert_close(covariance.diagonal(), eigenvalues / (eigenvalues + 5e-4), atol=1e-6, rtol=0)
        before = weight.clone()
        optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1.0)
        net(images[:4]).sum().backward()
        optimizer.step()
        self.assertTrue(torch.equal(net.stem.conv.weight, before))
        self.assertEqual(tuple(net.eval()(images[:2]).shape), (2, 10))
        for channels in (7, 26):
            with self.subTest(channels=channels), self.assertRaises(ValueError):
                MyModel(widths=(channels, 16), whitened_stem=True)

    def test_a_narrow_whitened_stem_keeps_the_strongest_directions(self):
        torch.manual_seed(0)
        base = torch.randn(200, 3, 8, 8)
        images = base + 0.8 * base.roll(1, dims=3) + 0.5 * base[:, :1]
        net = MyModel(widths=(8, 16, 16), whitened_stem=True)
        net.fit_stem(images)
        filters = net.stem.conv.weight[:4].reshape(4, 12).double()
        strongest = patch_eigenvectors(images)[:, -4:].flip(1).T  # the top four, strongest first
        cosines = F.cosine_similarity(filters, strongest, dim=1).abs()
        torch.testing.assert_close(cosines, torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0)

    def test_a_stage_adds_its_refinement_to_its_widened_input(self):
        torch.manual_seed(0)
        stage = MyModel(widths=(8, 16)).stages[0].eval()
        with torch.no_grad():
            stage.refine[1].bias.uniform_(0.5, 1)  # so that much of the refinement passes its ReLU
            x = torch.randn(2, 8, 8, 8)
            widened = stage.widen(x)
            refined = stage.refine(widened)
            self.assertGreater((refined > 0).float().mean().item(), 0.5)
            self.assertEqual(stage(x).shape, (2, 16, 4, 4))  # widened and halved
            torch.testing.assert_close(stage(x), widened + refined)

    def test_my_model_logits_are_the_max_pooled_features_through_the_head_over_8(self):
        torch.manual_seed(0)
        net, x = MyModel(widths=(8, 16, 32)).train(), torch.randn(4, 3, 32, 32)
        with torch.no_grad():
            features = net.stages(net.stem(x))
            expected = net.head(features.amax(dim=(2, 3))) / 8
            torch.testing.assert_close(net(x), expected)

    def test_the_shipped_checkpoints_load_strictly_into_their_models(self):
        for name, file in (("TwoLayerNet", "twolayernet.pth"), ("VanillaCNN", "vanillacnn.pth"),
                           ("MyModel", "mymodel.pth"), ("ResNet-32", "resnet-32.pth")):
            with self.subTest(model=name):
                state = torch.load(os.path.join(PART2, "checkpoints", file), map_location="cpu", weights_only=True)
                MODEL_BUILDERS[name]().load_state_dict(state)  # strict: every name and shape as the model's

    def test_fit_stem_leaves_a_learned_stem_alone(self):
        net = MyModel()
        before = {key: value.clone() for key, value in net.state_dict().items()}
        net.fit_stem(torch.randn(10, 3, 32, 32))
        for key, value in net.state_dict().items():
            self.assertTrue(torch.equal(value, before[key]), key)

    def test_the_gpu_variant_is_my_model_at_other_widths_and_a_checkpoint_tells_them_apart(self):
        gpu, cpu = MODEL_BUILDERS["MyModel-GPU"](), MODEL_BUILDERS["MyModel"]()
        self.assertIsInstance(gpu, MyModel)
        self.assertTrue(gpu.shifted_views and gpu.whitened_stem)
        self.assertFalse(cpu.shifted_views or cpu.whitened_stem)
        self.assertEqual(checkpointing.models_fitting(gpu.state_dict()), ["MyModel-GPU"])
        self.assertEqual(checkpointing.models_fitting(cpu.state_dict()), ["MyModel"])
        wide = MODEL_BUILDERS["MyModel-GPU-wide"]()
        self.assertEqual([stage.refine[0].out_channels for stage in wide.stages], [128, 384, 384])
        self.assertEqual(checkpointing.models_fitting(wide.state_dict()), ["MyModel-GPU-wide"])


if __name__ == "__main__":
    unittest.main()
