"""Per-modality encoders: shapes, batched equals one-by-one, positions."""

import pytest
import torch

from mmgraph.nn import BatchContext, DenseLayout, FrameEncoder, HubEncoder, PatchEncoder, TokenEncoder
from mmgraph.nn.encoders import SinusoidalPosition


def _ctx(counts):
    layouts, batch = {}, {}
    for t, c in counts.items():
        c = torch.tensor(c)
        layouts[t] = DenseLayout(torch.cat([torch.zeros(1, dtype=torch.long), c.cumsum(0)]))
        batch[t] = torch.repeat_interleave(torch.arange(len(c)), c)
    return BatchContext(len(next(iter(counts.values()))), layouts, batch, {}, [])


def test_sinusoidal_position():
    pe = SinusoidalPosition(8, dims=2)
    out = pe(torch.tensor([[0.0, 0.0], [1.0, 2.0]]))
    assert out.shape == (2, 8)
    assert torch.allclose(out[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="divisible"):
        SinusoidalPosition(6, dims=2)


@pytest.mark.parametrize("stem", ["linear", "conv"])
def test_patch_encoder(stem):
    enc = PatchEncoder(16, 8, patch_size=4, stem=stem)
    out = enc(torch.rand(5, 16), torch.rand(5, 2))
    assert out.shape == (5, 8)
    out.sum().backward()
    assert repr(enc) == f"PatchEncoder(16, 8, stem='{stem}')"


@pytest.mark.parametrize("context", ["none", "bilstm", "transformer"])
def test_token_encoder_batched_equals_one_by_one(context):
    torch.manual_seed(0)
    enc = TokenEncoder(20, 8, context=context).eval()
    ptr = torch.tensor([0, 3, 3, 7])
    x = torch.randint(3, 20, (7,))
    pos = torch.cat([torch.arange(3), torch.arange(4)]).float().unsqueeze(1)
    batched = enc(x, pos, DenseLayout(ptr))
    first = enc(x[:3], pos[:3], DenseLayout(torch.tensor([0, 3])))
    second = enc(x[3:], pos[3:], DenseLayout(torch.tensor([0, 4])))
    assert torch.allclose(batched, torch.cat([first, second]), atol=1e-5)


def test_frame_encoder_batched_equals_one_by_one():
    torch.manual_seed(0)
    enc = FrameEncoder(6, 8).eval()
    x, pos = torch.randn(9, 6), torch.rand(9, 1)
    batched = enc(x, pos, DenseLayout(torch.tensor([0, 4, 9])))
    a = enc(x[:4], pos[:4], DenseLayout(torch.tensor([0, 4])))
    b = enc(x[4:], pos[4:], DenseLayout(torch.tensor([0, 5])))
    assert torch.allclose(batched, torch.cat([a, b]), atol=1e-5)
    assert enc(torch.zeros(0, 6), torch.zeros(0, 1), DenseLayout(torch.tensor([0, 0]))).shape == (0, 8)


def test_frame_encoder_equals_its_convolution_over_padded_clips():
    torch.manual_seed(0)
    enc = FrameEncoder(6, 8, kernel_size=5).double()
    enc.fit_inputs(torch.randn(50, 6, dtype=torch.float64) * 2 + 1)
    layout = DenseLayout(torch.tensor([0, 1, 4, 4, 11, 13]))  # clips of 1, 3, 0, 7 and 2 frames
    x, pos = torch.randn(13, 6, dtype=torch.float64), torch.rand(13, 1, dtype=torch.float64)
    padded = layout.to_dense((x - enc.input_mean) / enc.input_std).transpose(1, 2)  # (B, n_mels, T_max)
    conv = torch.nn.functional.gelu(enc.conv(padded)).transpose(1, 2)  # the Conv1d itself, zero padding
    reference = enc.norm(layout.from_dense(conv) + enc.position(pos))
    assert torch.allclose(enc(x, pos, layout), reference, atol=1e-12, rtol=0)


def test_hub_encoder():
    assert HubEncoder(1, 4)(torch.zeros(3, 1), torch.zeros(3, 1)).shape == (3, 4)
