"""``EarlyFusion``: the source document's example design (CNN / LSTM branches, concatenated, one dense layer)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import encoder_input
from mmgraph.models.baselines.common import BaselineModel, require_graph_level
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.dense import DenseLayout
from mmgraph.nn.heads import MultiTaskHead


class _ImageConvBranch(nn.Module):
    """Reassembles each image from its patches, then Conv2d(3×3, same padding) → ReLU → MaxPool(2×2) → Flatten.

    Every image is placed top-left on a canvas of the configured size (zeros elsewhere), so that the
    flattened width is fixed; an image whose patch grid does not fit raises an error.

    Shapes:
        - input: ``x`` ``(N_image, P * P * C)`` (pixels in (row, col, channel) order), ``pos``
          ``(N_image, 2)`` patch (row, col), ``graph`` ``(N_image,)`` sample index
        - output: ``(B, conv_channels * (H // 2) * (W // 2))``
    """

    def __init__(self, in_features: int, patch_size: int, image_size: tuple[int, int], conv_channels: int) -> None:
        super().__init__()
        if in_features % (patch_size * patch_size):
            raise ValueError(f"image in_features (got {in_features}) must be a multiple of patch_size² "
                             f"(got {patch_size}² = {patch_size * patch_size})")
        self.patch_size, self.in_channels = patch_size, in_features // (patch_size * patch_size)
        self.grid = (math.ceil(image_size[0] / patch_size), math.ceil(image_size[1] / patch_size))
        height, width = self.grid[0] * patch_size, self.grid[1] * patch_size
        self.conv = nn.Conv2d(self.in_channels, conv_channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.out_features = conv_channels * (height // 2) * (width // 2)

    def forward(self, x: Tensor, pos: Tensor, graph: Tensor, num_graphs: int) -> Tensor:
        rows, cols = self.grid
        cell = pos.long()  # (N, 2) patch (row, col)
        if cell.numel():
            extent = cell.amax(dim=0) + 1
            if int(extent[0]) > rows or int(extent[1]) > cols:
                raise ValueError(
                    f"an image of {int(extent[0])}×{int(extent[1])} patches does not fit the early-fusion image "
                    f"branch, built for {rows}×{cols} patches of {self.patch_size} px; set options['image_size']"
                )
        p, c = self.patch_size, self.in_channels
        index = (graph * rows + cell[:, 0]) * cols + cell[:, 1]  # (N,) cell of each patch on the canvases
        canvas = x.new_zeros(num_graphs * rows * cols, x.shape[1]).index_copy(0, index, x)
        image = canvas.view(num_graphs, rows, cols, p, p, c).permute(0, 5, 1, 3, 2, 4)  # (B, C, rows, P, cols, P)
        image = image.reshape(num_graphs, c, rows * p, cols * p)  # (B, C, H, W)
        return self.pool(F.relu(self.conv(image))).flatten(1)  # (B, conv_channels * H/2 * W/2)


class _TextLSTMBranch(nn.Module):
    """Embedding → LSTM; the last hidden state after each text's real tokens (packed sequences).

    Shapes:
        - input: ``x`` ``(N_text,)`` token ids
        - output: ``(B, lstm_hidden)``
    """

    def __init__(self, vocab_size: int, embed_dim: int, lstm_hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, lstm_hidden, batch_first=True)
        self.out_features = lstm_hidden

    def forward(self, x: Tensor, layout: DenseLayout) -> Tensor:
        tokens = self.embedding(layout.to_dense(x))  # (B, L, embed_dim)
        lengths = layout.counts.clamp_min(1).cpu()  # texts without tokens are zero-filled by the caller
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
        _, (last, _) = self.lstm(packed)  # (1, B, lstm_hidden), in the batch's order
        return last[-1]


class _AudioConvBranch(nn.Module):
    """Per-band input normalisation → Conv1d over time → ReLU → max over each clip's real frames.

    Shapes:
        - input: ``x`` ``(N_audio, n_mels)`` log-mel frames
        - output: ``(B, audio_channels)``
    """

    def __init__(self, n_mels: int, audio_channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"'audio_kernel' must be odd (got {kernel_size})")
        # log-mel levels are far from zero mean / unit scale; the graph model's FrameEncoder normalises too
        self.input_norm = nn.BatchNorm1d(n_mels)
        self.conv = nn.Conv1d(n_mels, audio_channels, kernel_size, padding=kernel_size // 2)
        self.out_features = audio_channels

    def forward(self, x: Tensor, layout: DenseLayout) -> Tensor:
        x = self.input_norm(x) if x.shape[0] > 1 or not self.training else x
        frames = layout.to_dense(x).transpose(1, 2)  # (B, n_mels, T_max)
        h = F.relu(self.conv(frames))  # (B, audio_channels, T_max)
        return h.masked_fill(~layout.mask[:, None, :], float("-inf")).amax(dim=2)  # (B, audio_channels)


class EarlyFusion(BaselineModel):
    r"""Early (feature-level) fusion as the source document's example gives it.

    Each modality has its own small network; their features are concatenated and one dense layer
    fuses them before the task heads:

    - image: the image is reassembled from its patches (``pos`` gives each patch's place in the
      grid), then Conv2d(``conv_channels``, 3×3, same padding) → ReLU → MaxPool(2×2) → Flatten
      (a 28×28 grey image gives 64 · 14 · 14 = 12,544 features);
    - text: Embedding(``embed_dim``) → LSTM(``lstm_hidden``), the last hidden state after the real
      tokens (``pack_padded_sequence``);
    - audio: per-band BatchNorm of the log-mel frames → Conv1d(``audio_channels``, ``audio_kernel``
      frames) → ReLU → max over time (a CNN in the image branch's spirit; max pooling is blind to
      where in the clip the digit is spoken);

    .. math::
        z = \mathrm{ReLU}\bigl(W [f_\text{audio}; f_\text{image}; f_\text{text}] + b\bigr)

    Missing modality: the branch's features are zero for a sample without it (as if the branch
    had output nothing), so the dense layer sees only the present modalities' features.

    Args:
        in_features: modality → input width (pixels per patch, vocabulary size, mel bands); one
            branch per modality given.
        head: graph-level task heads of width ``hidden``.
        hidden: width of the fusion layer.
        patch_size: image patch side ``P``.
        image_size: ``(H, W)`` in pixels the image branch is built for (smaller images are padded).
        conv_channels, embed_dim, lstm_hidden, audio_channels, audio_kernel: branch sizes.

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, hidden)``, ``modality_present``
          ``(B, T)``
    """

    def __init__(self, in_features: dict[str, int], head: MultiTaskHead, hidden: int = 64, patch_size: int = 4,
                 image_size: tuple[int, int] = (28, 28), conv_channels: int = 64, embed_dim: int = 64,
                 lstm_hidden: int = 64, audio_channels: int = 64, audio_kernel: int = 5) -> None:
        super().__init__(head, list(in_features))
        require_graph_level(head, type(self).__name__)
        unknown = set(self.modalities) - {"audio", "image", "text"}
        if unknown:
            raise ValueError(f"EarlyFusion has branches for audio, image and text only (got {sorted(unknown)})")
        sizes = {"hidden": hidden, "conv_channels": conv_channels, "embed_dim": embed_dim,
                 "lstm_hidden": lstm_hidden, "audio_channels": audio_channels, "audio_kernel": audio_kernel}
        for name, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"'{name}' must be a positive int (got {value!r})")
        if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
                or not all(isinstance(v, int) and v > 0 for v in image_size)):
            raise ValueError(f"'image_size' must be (H, W) with positive int sides (got {image_size!r})")
        self.hidden, self.image_size = hidden, (int(image_size[0]), int(image_size[1]))
        used = {"image": ("conv_channels",), "text": ("embed_dim", "lstm_hidden"),
                "audio": ("audio_channels", "audio_kernel")}
        self.sizes = {"hidden": hidden, **{k: sizes[k] for m in self.modalities for k in used[m]}}
        branches: dict[str, nn.Module] = {}
        if "image" in in_features:
            branches["image"] = _ImageConvBranch(in_features["image"], patch_size, self.image_size, conv_channels)
        if "text" in in_features:
            branches["text"] = _TextLSTMBranch(in_features["text"], embed_dim, lstm_hidden)
        if "audio" in in_features:
            branches["audio"] = _AudioConvBranch(in_features["audio"], audio_channels, audio_kernel)
        self.branches = nn.ModuleDict({m: branches[m] for m in self.modalities})
        self.fusion = nn.Linear(sum(b.out_features for b in self.branches.values()), hidden)

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        features, present = [], []
        for m, branch in self.branches.items():
            layout = ctx.layouts[m]
            has = layout.counts > 0  # (B,)
            if layout.max_nodes == 0:
                f = self.fusion.weight.new_zeros(ctx.num_graphs, branch.out_features)
            elif m == "image":
                f = branch(encoder_input(batch[m]), batch[m].pos, ctx.batch[m], ctx.num_graphs)
            else:
                f = branch(encoder_input(batch[m]), layout)
            features.append(torch.where(has[:, None], f, torch.zeros_like(f)))  # (B, F_m)
            present.append(has)
        graph = F.relu(self.fusion(torch.cat(features, dim=1)))  # (B, hidden)
        return ModelOutput(self.head(graph, {}), graph, modality_present=torch.stack(present, dim=1),
                           modalities=list(self.modalities))

    def extra_repr(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        image = f", image_size={self.image_size}" if "image" in self.modalities else ""
        return f"modalities={self.modalities}, {sizes}{image}"
