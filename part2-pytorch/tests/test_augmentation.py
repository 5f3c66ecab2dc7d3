"""The batched tensor pipeline against the kit's torchvision transforms."""
import collections
import unittest
from unittest import mock

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from data import DeviceBatches, kit_transforms
from data.augment import CROP_PADDING, Crops, normalise, random_offsets_and_flips


def random_images(n, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def shifted_by_hand(image, top, left, padding=4):
    """Crop at (top, left) of the zero-padded image, written with numpy: a shift with zero fill."""
    height, width = image.shape[1:]
    padded = np.pad(image.numpy(), ((0, 0), (padding, padding), (padding, padding)))
    return torch.from_numpy(padded[:, top:top + height, left:left + width].copy())


def crop_and_flip(images, offsets, flips, padding=CROP_PADDING, memory_format=torch.contiguous_format):
    """Crop each image of (N, C, H, W) at `offsets` (N, 2) = (top, left) in its zero-padded copy, then mirror
    the images where `flips` (N,) is true. Offset (padding, padding) without a flip gives the image back."""
    return Crops(images, padding, memory_format)(torch.arange(len(images), device=images.device), offsets, flips)


def random_crop_and_flip(images, generator=None, padding=CROP_PADDING):
    """RandomCrop(size, padding) then RandomHorizontalFlip(0.5), batched."""
    offsets, flips = random_offsets_and_flips(images.shape[0], generator, padding, images.device)
    return crop_and_flip(images, offsets, flips, padding)


def to_pil(image):
    return Image.fromarray(image.permute(1, 2, 0).numpy())


class Normalisation(unittest.TestCase):
    def test_equals_to_tensor_then_normalize(self):
        images = random_images(6)
        expected = torch.stack([kit_transforms(train=False)(to_pil(image)) for image in images])
        torch.testing.assert_close(normalise(images), expected, atol=1e-6, rtol=0)
        self.assertEqual(normalise(images).dtype, torch.float32)

    def test_the_kits_mean_and_std(self):
        black = normalise(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))[0, :, 0, 0]
        white = normalise(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))[0, :, 0, 0]
        mean, std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2023, 0.1994, 0.2010])
        torch.testing.assert_close(black, -mean / std)
        torch.testing.assert_close(white, (1 - mean) / std)

    def test_other_image_sizes(self):
        images = torch.randint(0, 256, (3, 3, 20, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
        expected = torch.stack([kit_transforms(train=False)(to_pil(image)) for image in images])
        for memory_format in (torch.contiguous_format, torch.channels_last):
            torch.testing.assert_close(normalise(images, memory_format), expected, atol=1e-6, rtol=0)

    def test_any_input_strides_to_the_asked_memory_format(self):
        images = random_images(4)
        channels_last = normalise(images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), torch.channels_last)
        self.assertTrue(channels_last.is_contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(channels_last, normalise(images), atol=0, rtol=0)


class CropAndFlip(unittest.TestCase):
    def test_centre_offset_without_flip_is_the_identity(self):
        images = random_images(5)
        out = crop_and_flip(images, torch.full((5, 2), 4), torch.zeros(5, dtype=torch.bool))
        torch.testing.assert_close(normalise(out), normalise(images), atol=0, rtol=0)

    def test_crops_are_shifts_with_zero_fill_then_mirrors(self):
        images = random_images(81)
        offsets = torch.tensor([(top, left) for top in range(9) for left in range(9)])
        flips = torch.arange(81) % 2 == 1
        out = crop_and_flip(images, offsets, flips)
        for i, ((top, left), flip) in enumerate(zip(offsets.tolist(), flips.tolist())):
            expected = shifted_by_hand(images[i], top, left)
            torch.testing.assert_close(out[i], expected.flip(2) if flip else expected, atol=0, rtol=0)

    def test_other_paddings_and_non_square_images(self):
        rng = np.random.default_rng(0)
        for padding, (height, width), channels in [(2, (20, 28), 3), (0, (9, 5), 1), (5, (7, 7), 6)]:
            images = torch.from_numpy(rng.integers(0, 256, (6, channels, height, width), dtype=np.uint8))
            offsets = torch.from_numpy(rng.integers(0, 2 * padding + 1, (6, 2)))
            flips = torch.from_numpy(rng.random(6) < 0.5)
            out = crop_and_flip(images, offsets, flips, padding)
            self.assertEqual(out.shape, images.shape)
            for i, ((top, left), flip) in enumerate(zip(offsets.tolist(), flips.tolist())):
                expected = shifted_by_hand(images[i], top, left, padding)
                torch.testing.assert_close(out[i], expected.flip(2) if flip else expected, atol=0, rtol=0)

    def test_channels_last_storage_gives_the_same_crops_in_channels_last(self):
        rng = np.random.default_rng(1)
        for padding, (height, width) in [(4, (32, 32)), (2, (20, 28)), (0, (9, 5))]:
            images = torch.from_numpy(rng.integers(0, 256, (7, 3, height, width), dtype=np.uint8))
            offsets = torch.from_numpy(rng.integers(0, 2 * padding + 1, (7, 2)))
            flips = torch.from_numpy(rng.random(7) < 0.5)
            out = crop_and_flip(images, offsets, flips, padding, torch.channels_last)
            self.assertTrue(out.is_contiguous(memory_format=torch.channels_last))
            torch.testing.assert_close(out, crop_and_flip(images, offsets, flips, padding), atol=0, rtol=0)

    def test_every_torchvision_output_is_one_of_ours_and_ours_are_uniform(self):
        image = random_images(1, seed=3)[0]
        ours = crop_and_flip(image.expand(162, -1, -1, -1),
                             torch.tensor([(t, l) for t in range(9) for l in range(9)] * 2),
                             torch.arange(162) >= 81)
        variant = {ours[i].numpy().tobytes(): i for i in range(162)}
        kit = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()])
        torch.manual_seed(0)
        for _ in range(200):
            out = torch.from_numpy(np.array(kit(to_pil(image)))).permute(2, 0, 1)
            self.assertIn(out.numpy().tobytes(), variant)
        # Our random parameters: offsets uniform over 0..8 per axis, flips with probability 1/2.
        drawn = random_crop_and_flip(image.expand(16200, -1, -1, -1), torch.Generator().manual_seed(1))
        counts = collections.Counter(variant[out.numpy().tobytes()] for out in drawn)
        self.assertEqual(len(counts), 162)
        self.assertTrue(all(55 < count < 145 for count in counts.values()), counts)  # 100 expected each
        flipped = sum(count for i, count in counts.items() if i >= 81)
        self.assertLess(abs(flipped - 8100), 400)

    def test_the_kits_torchvision_pipelines(self):
        train, test = (kit_transforms(train=flag).transforms for flag in (True, False))
        self.assertEqual([type(step).__name__ for step in train],
                         ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"])
        self.assertEqual((train[0].size, train[0].padding, train[1].p), ((32, 32), 4, 0.5))
        self.assertEqual([type(step).__name__ for step in test], ["ToTensor", "Normalize"])


class Synthetic:
    def __init__(self, n):
        self.data = random_images(n).permute(0, 2, 3, 1).numpy()  # HWC, as the Datasets keep it
        self.targets = list(range(n))  # label = index, to track every image


class DeviceBatchesTest(unittest.TestCase):
    def test_test_mode_is_in_order_and_only_normalised(self):
        dataset = Synthetic(70)
        batches = list(DeviceBatches(dataset, 32, "cpu", train=False))
        self.assertEqual([len(labels) for _, labels in batches], [32, 32, 6])
        images = torch.cat([images for images, _ in batches])
        expected = torch.stack([kit_transforms(train=False)(Image.fromarray(a)) for a in dataset.data])
        torch.testing.assert_close(images, expected, atol=1e-6, rtol=0)
        self.assertEqual(torch.cat([labels for _, labels in batches]).tolist(), list(range(70)))

    def test_train_mode_shuffles_every_image_once_per_pass(self):
        batches = DeviceBatches(Synthetic(70), 32, "cpu", train=True, generator=torch.Generator().manual_seed(0))
        first = torch.cat([labels for _, labels, _ in batches])
        second = torch.cat([labels for _, labels, _ in batches])
        self.assertEqual(sorted(first.tolist()), list(range(70)))
        self.assertNotEqual(first.tolist(), second.tolist())
        self.assertEqual(len(batches), 3)

    def test_train_images_are_augmented_copies_of_their_own_image(self):
        dataset = Synthetic(20)
        batches = DeviceBatches(dataset, 8, "cpu", train=True, generator=torch.Generator().manual_seed(0))
        originals = torch.from_numpy(dataset.data).permute(0, 3, 1, 2)
        for images, labels, loss_scale in batches:
            self.assertEqual(loss_scale, 1.0)  # one process: each batch is the whole global batch
            for image, label in zip(images, labels.tolist()):
                variants = normalise(crop_and_flip(originals[label].expand(162, -1, -1, -1),
                                                   torch.tensor([(t, l) for t in range(9) for l in range(9)] * 2),
                                                   torch.arange(162) >= 81))
                self.assertTrue(((variants - image).abs().amax(dim=(1, 2, 3)) < 1e-6).any())

    def test_the_stream_is_a_shuffle_then_each_batchs_offsets_and_flips(self):
        """The order of the draws fixes every run's batches: changing it changes every result from a seed."""
        dataset = Synthetic(40)
        batches = DeviceBatches(dataset, 16, "cpu", train=True, generator=torch.Generator().manual_seed(7))
        originals = torch.from_numpy(dataset.data).permute(0, 3, 1, 2)
        generator = torch.Generator().manual_seed(7)
        for _ in range(2):  # and the next pass goes on from there
            order = torch.randperm(40, generator=generator)
            got = list(batches)
            self.assertEqual(len(got), 3)
            for (images, labels, _), start in zip(got, range(0, 40, 16)):
                index = order[start:start + 16]
                offsets, flips = random_offsets_and_flips(len(index), generator)
                self.assertEqual(labels.tolist(), index.tolist())
                torch.testing.assert_close(images, normalise(crop_and_flip(originals[index], offsets, flips)),
                                           atol=0, rtol=0)

    def test_same_seed_same_batches(self):
        def first_batch(seed):
            batches = DeviceBatches(Synthetic(50), 16, "cpu", train=True, generator=torch.Generator().manual_seed(seed))
            return next(iter(batches))
        torch.testing.assert_close(first_batch(4), first_batch(4))
        self.assertFalse(torch.equal(first_batch(4)[0], first_batch(5)[0]))

    def test_channels_last_batches_hold_the_same_images(self):
        def first_batch(memory_format):
            batches = DeviceBatches(Synthetic(50), 16, "cpu", train=True, generator=torch.Generator().manual_seed(3),
                                    memory_format=memory_format)
            return next(iter(batches))
        (plain, labels, _), (channels_last, same_labels, _) = map(first_batch,
                                                                  (torch.contiguous_format, torch.channels_last))
        self.assertTrue(channels_last.is_contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(channels_last, plain, atol=0, rtol=0)
        self.assertEqual(labels.tolist(), same_labels.tolist())
        tested = [next(iter(DeviceBatches(Synthetic(50), 16, "cpu", train=False, memory_format=memory_format)))[0]
                  for memory_format in (torch.contiguous_format, torch.channels_last)]
        self.assertTrue(tested[1].is_contiguous(memory_format=torch.channels_last))  # test batches too
        torch.testing.assert_close(tested[1], tested[0], atol=0, rtol=0)

    def test_alternate_flips_mirror_each_image_in_every_other_pass_from_a_seeded_start(self):
        dataset = Synthetic(200)
        originals = torch.from_numpy(dataset.data).permute(0, 3, 1, 2)

        def mirrored_per_pass(seed, passes, first_epoch=1):
            batches = DeviceBatches(dataset, 64, "cpu", train=True, generator=torch.Generator().manual_seed(seed),
                                    crop_padding=0, flips="alternate")  # no shifts: each image or its mirror
            batches.set_epoch(first_epoch)
            result = []
            for _ in range(passes):
                mirrored = torch.zeros(200, dtype=torch.bool)
                for images, labels, _ in batches:
                    plain = normalise(originals[labels])
                    self.assertTrue(all(torch.equal(image, plain[i]) or torch.equal(image, plain[i].flip(2))
                                        for i, image in enumerate(images)))
                    mirrored[labels] = torch.tensor([not torch.equal(image, plain[i])
                                                     for i, image in enumerate(images)])
                result.append(mirrored)
            return result

        first, second, third, fourth = mirrored_per_pass(5, 4)
        self.assertTrue(torch.equal(second, ~first) and torch.equal(third, first) and torch.equal(fourth, ~first))
        self.assertLess(abs(int(first.sum()) - 100), 30)  # a random half to start from
        self.assertTrue(torch.equal(first, torch.rand(200, generator=torch.Generator().manual_seed(5)) < 0.5))
        # a resumed run (set_epoch) and a reseeded generator get the same start back; another seed another one
        self.assertTrue(torch.equal(mirrored_per_pass(5, 1, first_epoch=4)[0], fourth))
        self.assertFalse(torch.equal(mirrored_per_pass(6, 1)[0], first))

    def test_alternate_flips_follow_a_reseeded_generator(self):
        generator = torch.Generator().manual_seed(5)
        batches = DeviceBatches(Synthetic(50), 16, "cpu", train=True, generator=generator, flips="alternate")
        first = batches._first_flips("cpu").clone()
        generator.manual_seed(6)
        reseeded = batches._first_flips("cpu")
        self.assertTrue(torch.equal(reseeded, torch.rand(50, generator=torch.Generator().manual_seed(6)) < 0.5))
        self.assertFalse(torch.equal(reseeded, first))

    def test_alternate_flips_leave_the_order_and_the_random_stream_as_they_were(self):
        def labels_and_state(flips):
            generator = torch.Generator().manual_seed(2)
            batches = DeviceBatches(Synthetic(50), 16, "cpu", train=True, generator=generator, flips=flips)
            labels = [labels.tolist() for _ in range(2) for _, labels, _ in batches]
            return labels, generator.get_state()
        (random_labels, random_state), (alternate_labels, alternate_state) = map(labels_and_state,
                                                                                 ("random", "alternate"))
        self.assertEqual(random_labels, alternate_labels)
        self.assertTrue(torch.equal(random_state, alternate_state))

    def test_a_fresh_loader_starts_at_epoch_one(self):
        def first_pass(set_epoch):
            batches = DeviceBatches(Synthetic(20), 8, "cpu", train=True, generator=torch.Generator().manual_seed(2),
                                    flips="alternate")
            if set_epoch:
                batches.set_epoch(1)
            return torch.cat([images for images, _, _ in batches])
        torch.testing.assert_close(first_pass(False), first_pass(True), atol=0, rtol=0)

    def test_an_unknown_flip_mode_is_refused(self):
        with self.assertRaises(ValueError):
            DeviceBatches(Synthetic(10), 4, "cpu", train=True, flips="sometimes")

    def test_a_lone_trailing_sample_is_left_for_another_epoch(self):
        batches = DeviceBatches(Synthetic(33), 16, "cpu", train=True, generator=torch.Generator().manual_seed(0))
        self.assertEqual([len(labels) for _, labels, _ in batches], [16, 16])
        self.assertEqual(len(batches), 2)
        seen = set()
        for _ in range(20):  # a different one each pass: over passes, every image trains
            seen.update(torch.cat([labels for _, labels, _ in batches]).tolist())
        self.assertEqual(seen, set(range(33)))
        tested = DeviceBatches(Synthetic(33), 16, "cpu", train=False)  # the test set: every image, in order
        self.assertEqual(torch.cat([labels for _, labels in tested]).tolist(), list(range(33)))
        self.assertEqual(len(tested), 3)

    def test_every_rank_gets_images_in_every_batch(self):
        for ranks, sizes in ((3, [[5, 5], [5, 5], [6, 6]]), (2, [[8, 8, 1], [8, 8, 1]])):
            with self.subTest(ranks=ranks):  # 34 images, global batch 16: a last batch of 2, dropped for 3 ranks
                seen = []
                for rank in range(ranks):
                    with mock.patch("distributed.world_size", return_value=ranks), \
                            mock.patch("distributed.rank", return_value=rank):
                        batches = DeviceBatches(Synthetic(34), 16, "cpu", train=True,
                                                generator=torch.Generator().manual_seed(0))
                        got = list(batches)
                        seen.append([len(labels) for _, labels, _ in got])
                        # each rank's share times the ranks: the local mean loss times it averages to the global mean
                        self.assertEqual([scale for _, _, scale in got],
                                         [size * ranks / sum(sizes[r][i] for r in range(ranks))
                                          for i, size in enumerate(seen[-1])])
                        self.assertEqual(len(batches), len(seen[-1]))
                self.assertEqual(seen, sizes)


if __name__ == "__main__":
    unittest.main()
