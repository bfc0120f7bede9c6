"""Convolutional text classifiers over word embeddings: Kim's CNN, Yuan et al.'s CNN, a dilated CNN.

All three take word ids (B, T) and return class logits (B, K). Padding never changes an example's
output: embeddings of padded positions are zeroed (so padding looks like the convolutions' own
zero padding), deeper layers are re-masked after every convolution, and max-over-time pools only
real positions. Convolutions are ``nn.Conv1d`` modules with explicit padding, so the adapter derives
receptive fields from their (kernel, stride, dilation, padding).

Cost (MR, 2 CPU cores, default configs): a few seconds per epoch each.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from reportgen.models.architectures._common import (
    init_embedding,
    masked_max,
    wide_conv_mask,
    zero_masked,
)
from reportgen.models.base import TextModel
from reportgen.models.hooks import HookPoint


class KimCNN(TextModel):
    """Kim (2014), "Convolutional neural networks for sentence classification"
    (CNN-rand/-non-static).

    Embedding (300) -> parallel convolutions of widths 3, 4, 5 with 100 filters each, ReLU ->
    max-over-time -> dropout 0.5 -> linear. The paper's configuration, unscaled, including its
    embedding initialisation U(-0.25, 0.25) (PyTorch's N(0, 1) costs ~2 points on MR). Convolutions
    are *wide* (padding width-1 on both sides, as Kim's code pads each sentence), so a one-word text
    works; output position j of a width-k filter sees tokens j-k+1 .. j. Kim's l2 max-norm
    constraint on the last layer is left out (Adam with early stopping does as well here).
    """

    arch: ClassVar[str] = "kim-cnn"
    citation: ClassVar[str] = (
        "Kim, Y. (2014). Convolutional Neural Networks for Sentence Classification. EMNLP."
    )
    summary: ClassVar[str] = "CNN, filter widths 3/4/5 x 100, max-over-time (Kim 2014)"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 12, "lr": 1e-3, "batch_size": 50}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self.emb = nn.Embedding(c["n_tokens"], c["emb_dim"], padding_idx=0)
        init_embedding(self.emb, c.get("emb_init"))
        self.convs = nn.ModuleList(
            nn.Conv1d(c["emb_dim"], c["filters"], k, padding=k - 1) for k in c["widths"]
        )
        # hook points: each width's ReLU output, re-masked (B, T + k - 1, F); the pooled features
        self.conv_acts = nn.ModuleList(HookPoint("B T C") for _ in c["widths"])
        self.features = HookPoint("B C")
        self.drop = nn.Dropout(c["dropout"])
        self.out = nn.Linear(c["filters"] * len(c["widths"]), c["n_classes"])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,
            "n_classes": n_classes,
            "emb_dim": 300,
            "emb_init": 0.25,  # U(-0.25, 0.25) rows, as Kim (2014)
            "widths": [3, 4, 5],
            "filters": 100,
            "dropout": 0.5,
        }

    def _feature_maps(self, emb: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """One activation map per width, each (B, T + k - 1, filters),
        zero where no token is seen."""
        x = zero_masked(emb, mask).transpose(1, 2)  # (B, E, T)
        maps = []
        for conv, act in zip(self.convs, self.conv_acts, strict=True):
            k = conv.kernel_size[0]
            a = F.relu(conv(x)).transpose(1, 2)  # (B, T + k - 1, F)
            maps.append(act(zero_masked(a, wide_conv_mask(mask, k))))
        return maps

    def sentence_representation(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The max-pooled features the classifier reads: (B, len(widths) * filters)."""
        maps = self._feature_maps(emb, mask)
        pooled = [
            masked_max(a, wide_conv_mask(mask, conv.kernel_size[0]))  # (B, F)
            for a, conv in zip(maps, self.convs, strict=True)
        ]
        return self.features(torch.cat(pooled, dim=-1))  # (B, widths * F)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.sentence_representation(emb, mask)  # (B, widths * F)
        return self.out(self.drop(z))  # (B, K)

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, widths * F): at token t, each width's filters over the n-gram *starting* at t."""
        T = emb.size(1)
        maps = [
            a[:, k - 1 : k - 1 + T]  # (B, T, F): output j = t + k - 1 covers tokens t .. t + k - 1
            for a, k in zip(self._feature_maps(emb, mask), self.config["widths"], strict=True)
        ]
        return zero_masked(torch.cat(maps, dim=-1), mask)

    def conv_chains(self) -> list[list[str]]:
        return [[f"convs.{i}"] for i in range(len(self.convs))]

    def conv_outputs(self) -> dict[str, str]:
        return {f"convs.{i}": f"conv_acts.{i}" for i in range(len(self.convs))}


class _StackedCNN(TextModel):
    """Shared by the deep CNNs: 'same'-padded 1-D convolutions, re-masked after every layer."""

    def _add_embedding(self) -> None:
        """The token embedding (Kim-style uniform init) and its dropout; called first."""
        c = self.config
        self.emb = nn.Embedding(c["n_tokens"], c["emb_dim"], padding_idx=0)
        init_embedding(self.emb, c.get("emb_init"))

    def _add_head(self, width: int) -> None:
        """Dropouts and the linear classifier over ``width`` pooled features; called last."""
        c = self.config
        self.emb_drop = nn.Dropout(c["emb_dropout"])
        self.features = HookPoint("B C")  # hook point: the max-pooled features the head reads
        self.drop = nn.Dropout(c["dropout"])
        self.out = nn.Linear(width, c["n_classes"])

    def _layer_outputs(self, emb: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The top convolution's activations (B, T, channels), zero at padding."""
        return self._layer_outputs(emb, mask)[-1]

    def sentence_representation(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Max over time of the top layer: (B, channels)."""
        return self.features(masked_max(self.hidden_states(emb, mask), mask))

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.sentence_representation(emb, mask)  # (B, C)
        return self.out(self.drop(z))  # (B, K)


class YuanCNN(_StackedCNN):
    """The text CNN of Yuan, Chen, Hu and Ji (2019), Table 2,
    whose hidden units their method explains.

    Embedding (300; word2vec in the paper, any ``--embeddings`` file here) -> 3 convolutions, kernel
    5, channels 128 / 64 / 32, each ReLU -> max-pool over time -> dropout -> linear. For AG News
    (data SPEC ``agnews:``) 4 layers of 512 / 256 / 128 / 64 (``variant_for_data``).

    Geometry, fixed so receptive fields are well defined: every convolution has kernel 5, stride 1,
    dilation 1 and padding 2 ("same"), so location i of layer j (1-based) sees input tokens
    i-2j .. i+2j, a receptive field of 4j + 1 tokens (5, 9, 13, 17). Activations at padded positions
    are reset to zero after each layer, so they equal the convolution's own zero padding and any
    text, even one word long, gives the same output alone or in a padded batch.
    """

    arch: ClassVar[str] = "yuan-cnn"
    citation: ClassVar[str] = (
        "Yuan, H., Chen, Y., Hu, X., Ji, S. (2019). Interpreting Deep Models for Text Analysis via "
        "Optimization and Regularization Methods. AAAI."
    )
    summary: ClassVar[str] = (
        "3-layer CNN, kernel 5, 128/64/32 channels, max-pool (Yuan et al. 2019)"
    )
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 12, "lr": 1e-3, "batch_size": 50}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self._add_embedding()
        sizes = [c["emb_dim"], *c["channels"]]
        self.convs = nn.ModuleList(
            nn.Conv1d(i, o, c["kernel"], padding=c["kernel"] // 2)
            for i, o in itertools.pairwise(sizes)
        )
        # hook points: each layer's ReLU output, re-masked, as the next layer reads it (B, C_j, T)
        self.conv_acts = nn.ModuleList(HookPoint("B C T") for _ in self.convs)
        self._add_head(sizes[-1])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,
            "n_classes": n_classes,
            "emb_dim": 300,
            "emb_init": 0.25,  # U(-0.25, 0.25) rows, as Kim (2014)
            "channels": [128, 64, 32],
            "kernel": 5,
            "emb_dropout": 0.25,
            "dropout": 0.25,
        }

    @staticmethod
    def variant_for_data(spec: str) -> dict[str, Any]:
        """Config changes for a data SPEC: AG News gets the paper's wider 4-layer network."""
        if spec.startswith("agnews:"):
            return {"channels": [512, 256, 128, 64]}
        return {}

    def _layer_outputs(self, emb: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        x = zero_masked(self.emb_drop(emb), mask).transpose(1, 2)  # (B, E, T)
        m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        outs = []
        for conv, act in zip(self.convs, self.conv_acts, strict=True):
            x = act(F.relu(conv(x)) * m)  # (B, C_j, T)
            outs.append(x.transpose(1, 2))  # (B, T, C_j)
        return outs

    def conv_chains(self) -> list[list[str]]:
        return [[f"convs.{i}" for i in range(len(self.convs))]]

    def conv_outputs(self) -> dict[str, str]:
        return {f"convs.{i}": f"conv_acts.{i}" for i in range(len(self.convs))}


class DilatedCNN(_StackedCNN):
    """Residual dilated 1-D CNN (as in ByteNet / TCN-style text encoders; the "convolutional methods
    for text" blog's example of receptive fields that grow exponentially with depth).

    Embedding (128) -> 1x1 projection to 128 channels -> residual blocks
    ``h <- h + ReLU(conv_d(h))`` with kernel 3 and dilations 1, 2, 4, 8 (padding = dilation, so
    lengths are kept) -> max-pool over time -> dropout 0.5 -> linear. The receptive field after the
    projection and block i is 1 + 2 * (2^(i+1) - 1) tokens: 3, 7, 15, 31. Scaled down from
    ByteNet-sized stacks (hundreds of channels, repeated dilation cycles) to fit a CPU.
    """

    arch: ClassVar[str] = "dilated-cnn"
    citation: ClassVar[str] = (
        "Yu, F., Koltun, V. (2016). Multi-Scale Context Aggregation by Dilated Convolutions. ICLR; "
        "Kalchbrenner, N. et al. (2016). Neural Machine Translation in Linear Time (ByteNet)."
    )
    summary: ClassVar[str] = (
        "residual dilated CNN, kernel 3, dilations 1/2/4/8 (receptive field 31)"
    )
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 12, "lr": 1e-3, "batch_size": 50}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self._add_embedding()
        self.proj = nn.Conv1d(c["emb_dim"], c["channels"], 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(c["channels"], c["channels"], c["kernel"], dilation=d,
                      padding=d * (c["kernel"] - 1) // 2)
            for d in c["dilations"]
        )
        # hook points: the projection and each residual block's output, masked (B, C, T)
        self.proj_act = HookPoint("B C T")
        self.conv_acts = nn.ModuleList(HookPoint("B C T") for _ in self.convs)
        self._add_head(c["channels"])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,
            "n_classes": n_classes,
            "emb_dim": 128,
            "emb_init": 0.25,  # U(-0.25, 0.25) rows, as Kim (2014)
            "channels": 128,
            "kernel": 3,
            "dilations": [1, 2, 4, 8],
            "emb_dropout": 0.25,
            "dropout": 0.5,
        }

    def _layer_outputs(self, emb: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        x = zero_masked(self.emb_drop(emb), mask).transpose(1, 2)  # (B, E, T)
        m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = self.proj_act(self.proj(x) * m)  # (B, C, T)
        outs = []
        for conv, act in zip(self.convs, self.conv_acts, strict=True):
            h = act((h + F.relu(conv(h))) * m)  # (B, C, T)
            outs.append(h.transpose(1, 2))  # (B, T, C)
        return outs

    def conv_chains(self) -> list[list[str]]:
        return [["proj", *(f"convs.{i}" for i in range(len(self.convs)))]]

    def conv_outputs(self) -> dict[str, str]:
        return {
            "proj": "proj_act",
            **{f"convs.{i}": f"conv_acts.{i}" for i in range(len(self.convs))},
        }
