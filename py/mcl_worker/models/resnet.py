"""ResNet-18 and ResNet-50 (He et al. 2016), parameter names identical to torchvision's.

A torchvision weight file loads as is: the backbone's state dict is torchvision's minus the
classifier `fc`, whose keys the loader reports and skips. Two stems:
  imagenet: conv 7x7 stride 2 + max-pool 3x3 stride 2 (torchvision's; downsamples 32x in all)
  cifar:    conv 3x3 stride 1, no max-pool (the usual stem for 32x32 images; downsamples 8x)
The blocks are torchvision's "v1.5": in a Bottleneck the stride sits on the 3x3 conv.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .errors import ModelConfigError

Stem = Literal["cifar", "imagenet"]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + identity)


class ResNet(nn.Module):
    # torchvision's classifier; a backbone has none, so those keys of a weight file are skipped.
    pretrained_ignored_prefixes: tuple[str, ...] = ("fc.",)

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        *,
        in_channels: int = 3,
        stem: Stem = "imagenet",
    ) -> None:
        super().__init__()
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(64)
        self.in_planes = 64
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.feature_dim = 512 * block.expansion
        self.stem: Stem = stem
        # Set by use_channels_last(): the input is converted to the weights' memory format.
        self.channels_last = False

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int
    ) -> nn.Sequential:
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_planes != out_planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_planes, out_planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = out_planes
        layers += [block(self.in_planes, planes, 1, None) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def use_channels_last(self) -> None:
        """Weights and input in channels-last memory format (NHWC): faster convolutions on tensor cores."""
        self.to(memory_format=torch.channels_last)
        self.channels_last = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


_DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    50: (Bottleneck, (3, 4, 6, 3)),
}
# Total downsampling of each stem and its three stride-2 layers; the last map must be >= 1x1.
_STEM_DOWNSAMPLING: dict[str, int] = {"cifar": 8, "imagenet": 32}


def build_resnet(*, depth: int, image_size: int, in_channels: int, stem: str | None = None) -> ResNet:
    if stem is None:
        stem = "cifar" if image_size <= 64 else "imagenet"
    if stem not in _STEM_DOWNSAMPLING:
        raise ModelConfigError(
            "BAD_OPTION", "stem", f"stem must be one of {sorted(_STEM_DOWNSAMPLING)}, got {stem!r}"
        )
    min_size = _STEM_DOWNSAMPLING[stem]
    if image_size < min_size:
        raise ModelConfigError(
            "BAD_IMAGE_SIZE",
            "image_size",
            f"resnet{depth} with the {stem} stem downsamples {min_size}x, so image_size must be >= {min_size};"
            f" got {image_size}."
            + (" Use stem='cifar' for small images." if stem == "imagenet" else ""),
        )
    block, layers = _DEPTHS[depth]
    return ResNet(block, layers, in_channels=in_channels, stem="cifar" if stem == "cifar" else "imagenet")
