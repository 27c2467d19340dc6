import torch

from mmgraph.nn import DenseLayout


def test_round_trip_non_uniform():
    ptr = torch.tensor([0, 2, 2, 5])
    layout = DenseLayout(ptr)
    x = torch.arange(5.0).unsqueeze(1)
    dense = layout.to_dense(x, fill=-1)
    assert dense.shape == (3, 3, 1)
    assert dense.squeeze(-1).tolist() == [[0, 1, -1], [-1, -1, -1], [2, 3, 4]]
    assert layout.mask.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    assert torch.equal(layout.from_dense(dense), x)


def test_uniform_is_a_view():
    layout = DenseLayout(torch.tensor([0, 3, 6]))
    x = torch.randn(6, 4)
    assert layout.uniform and layout.to_dense(x).data_ptr() == x.data_ptr()
    assert torch.equal(layout.from_dense(layout.to_dense(x)), x)


def test_empty():
    layout = DenseLayout(torch.tensor([0, 0, 0]))
    assert layout.max_nodes == 0 and layout.to_dense(torch.zeros(0, 2)).shape == (2, 0, 2)
