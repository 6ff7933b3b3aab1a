"""The timm and torchvision models of the zoo: stock architectures, random weights, no downloads.

``ZOO`` maps ``"timm/<name>"`` and ``"torchvision/<name>"`` to a :class:`ZooModel`: a
zero-argument ``factory`` (``timm.create_model(name, pretrained=False, ...)`` or
``torchvision.models.get_model(name, weights=None, ...)``) and the side of the square image
its forward is run on (``example_input()``). To stay fast on a CPU, inputs are 64×64 wherever
the stock architecture accepts that, the transformers get ``img_size``/``image_size`` (and a
matching window) instead of 224, and classifier heads have 10 classes; the architecture
(blocks, depths, widths, init code) is otherwise the library's own. The survey of issue 10
ran 14 timm and 18 torchvision models; this list keeps 31 of them.

Importing this module imports nothing heavy; the factories import timm/torchvision when
called. Test modules call ``tests.zoo.timm_tv.libs.timm_and_torchvision()`` first, which skips
them with the reason where the libraries do not import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Factory = Callable[[], nn.Module]

#: Classes of every classifier head (smaller heads, same init code).
NUM_CLASSES = 10


@dataclass(frozen=True)
class ZooModel:
    """One stock model: how to build it and the image side its forward takes."""

    library: str  # "timm" or "torchvision"
    name: str  # the library's model name
    size: int = 64  # height and width of the example input
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.library}/{self.name}"

    def factory(self) -> nn.Module:
        """Build the model with random weights (its authors' init), on the current device."""
        if self.library == "timm":
            import timm

            return timm.create_model(
                self.name, pretrained=False, num_classes=NUM_CLASSES, **self.kwargs
            )
        import torchvision

        return torchvision.models.get_model(
            self.name, weights=None, num_classes=NUM_CLASSES, **self.kwargs
        )

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A fixed, deterministic image batch (no global RNG). One image by default: what
        activation detection must handle (BatchNorm on one value per channel in LeViT)."""
        numel = batch * 3 * self.size * self.size
        return torch.linspace(-2, 2, numel).reshape(batch, 3, self.size, self.size)


_TIMM = (
    ZooModel("timm", "resnet18"),
    ZooModel("timm", "efficientnet_b0"),
    ZooModel("timm", "convnext_atto"),
    ZooModel("timm", "vit_tiny_patch16_224", kwargs={"img_size": 64}),
    ZooModel("timm", "deit_tiny_patch16_224", kwargs={"img_size": 64}),
    ZooModel("timm", "swin_tiny_patch4_window7_224", kwargs={"img_size": 64, "window_size": 2}),
    ZooModel("timm", "maxvit_tiny_tf_224", kwargs={"img_size": 64}),
    ZooModel("timm", "coatnet_0_rw_224", kwargs={"img_size": 64}),
    ZooModel("timm", "fastvit_t8"),
    ZooModel("timm", "poolformer_s12"),
    ZooModel("timm", "levit_128s", kwargs={"img_size": 64}),
    ZooModel("timm", "mobilenetv3_small_100"),
    ZooModel("timm", "regnetx_002"),
    ZooModel("timm", "cait_xxs24_224", kwargs={"img_size": 64}),
)
_TORCHVISION = (
    ZooModel("torchvision", "resnet18"),
    ZooModel("torchvision", "resnet50"),
    ZooModel("torchvision", "mobilenet_v3_small"),
    ZooModel("torchvision", "efficientnet_b0"),
    ZooModel("torchvision", "convnext_tiny"),
    ZooModel("torchvision", "vit_b_16", kwargs={"image_size": 64}),
    ZooModel("torchvision", "swin_t"),
    ZooModel("torchvision", "maxvit_t", size=224),  # partition 7 is fixed: 224 = 7·32
    ZooModel("torchvision", "regnet_y_400mf"),
    ZooModel("torchvision", "densenet121"),
    ZooModel("torchvision", "squeezenet1_0"),
    ZooModel("torchvision", "shufflenet_v2_x0_5"),
    ZooModel("torchvision", "mnasnet0_5"),
    ZooModel("torchvision", "googlenet", kwargs={"aux_logits": False, "init_weights": True}),
    ZooModel(
        "torchvision",
        "inception_v3",
        size=80,  # its smallest accepted input is 75×75
        kwargs={"aux_logits": False, "init_weights": True},
    ),
    ZooModel("torchvision", "alexnet"),
    ZooModel("torchvision", "vgg11"),
)
#: Left out: ``wide_resnet50_2`` (resnet50's code with wider bottlenecks: 67 M parameters,
#: nothing new to check, a fifth of the suite's time).

#: Every model, by key (``"timm/resnet18"``), in a stable order.
ZOO: dict[str, ZooModel] = {m.key: m for m in (*_TIMM, *_TORCHVISION)}
