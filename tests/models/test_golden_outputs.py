"""The graph model's numbers are pinned: speed work may reorder float operations, never change the math.

``tests/data/golden_graph_model.json`` holds, for two fixed float64 batches (built from seeded tensors,
no featurizer involved) and seeded models, the outputs and gradients that the implementation before
the speed work (``main`` at b8d84fa) produced. Every later implementation must reproduce them to
float64 rounding. Regenerate only when the *math* is meant to change:

    PYTHONPATH=. python tests/models/test_golden_outputs.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmgraph.graph import GraphConfig, NodeColumns, assemble_batch
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.task import Task

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_graph_model.json"
TASKS = {"digit": Task("digit", "classification", "y", num_classes=10)}
# per graph: audio frames, image patches, text tokens (0: the modality is missing)
COUNTS = {
    "audio": [9, 40, 0, 17, 23, 3, 31, 12, 0, 48, 21, 15],
    "image": [16, 16, 16, 0, 16, 16, 16, 16, 16, 0, 16, 16],
    "text": [5, 0, 12, 7, 0, 3, 9, 1, 4, 6, 0, 11],
}
CASES = {
    # the AV-MNIST suite's graph: complete graphs within and between audio and image
    "avmnist": {"modalities": ("audio", "image"), "edges": {"image": "full", "audio": "full", "audio-image": "full"}},
    # three modalities, edge lists within text and audio and between them, and a hub: the edge lists run
    # as masked dense blocks, or (dense_block_limit=0) by message passing beside the dense blocks
    "mixed": {"modalities": ("audio", "image", "text"), "hub": True,
              "edges": {"audio": "window:2", "text": "window:1", "audio-text": "aligned:0.2"}},
    "mixed_sparse": {"modalities": ("audio", "image", "text"), "hub": True, "dense_block_limit": 0,
                     "edges": {"audio": "window:2", "text": "window:1", "audio-text": "aligned:0.2"}},
}
FEATURES = {"audio": 40, "image": 49, "text": 30}


def make_batch(case: dict):
    config = GraphConfig(modalities=case["modalities"], edges=case["edges"], hub=case.get("hub", False),
                         image={"patch_size": 7})
    g = torch.Generator().manual_seed(0)
    nodes = {}
    for m in config.modalities:
        counts = torch.tensor(COUNTS[m])
        n = int(counts.sum())
        if m == "text":
            x = torch.randint(1, FEATURES[m], (n,), generator=g)
            pos = torch.cat([torch.arange(c) for c in COUNTS[m]]).double()[:, None]
            shapes = [(c,) for c in COUNTS[m]]
        elif m == "image":
            x = torch.rand(n, FEATURES[m], generator=g, dtype=torch.float64)
            pos = torch.stack(torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij"), -1).reshape(16, 2)
            pos = torch.cat([pos for c in COUNTS[m] if c]).double()
            shapes = [(4, 4) if c else (0, 0) for c in COUNTS[m]]
        else:
            x = torch.randn(n, FEATURES[m], generator=g, dtype=torch.float64) * 3 - 5
            pos = torch.cat([torch.arange(c) * 0.02 for c in COUNTS[m]]).double()[:, None]
            shapes = [(c,) for c in COUNTS[m]]
        nodes[m] = NodeColumns(x, pos, counts, shapes)
    if config.hub:
        b = len(COUNTS["audio"])
        nodes["sample"] = NodeColumns(torch.zeros(b, 1, dtype=torch.float64), torch.zeros(b, 1, dtype=torch.float64),
                                      torch.ones(b, dtype=torch.long), [(1,)] * b)
    batch = assemble_batch(config, nodes, full_edges="dense")
    batch.y = torch.arange(len(COUNTS["audio"])) % 10
    in_features = {**{m: FEATURES[m] for m in config.modalities}, **({"sample": 1} if config.hub else {})}
    spec = DataSpec(config.modalities, config.node_types, config.edge_types, in_features, 7, TASKS)
    return batch, spec


def outputs(case_name: str) -> dict[str, list]:
    """Eval-mode logits and embeddings, and a training step's loss and gradients (seeded dropout)."""
    case = CASES[case_name]
    batch, spec = make_batch(case)
    torch.manual_seed(0)
    readout = "hub" if case.get("hub") else "gate"
    # the losses and text noise the golden values were made with (issue 16's defaults add terms of their own)
    model = build_model(ModelConfig(hidden=32, layers=2, heads=4, modality_dropout=0.3, unimodal_weight=0.5,
                                    isolated_aux_weight=0.0, token_unk_rate=0.0, readout=readout,
                                    dense_block_limit=case.get("dense_block_limit", 16384)),
                        spec).double()
    model.eval()
    with torch.no_grad():
        out = model(batch)
    result = {"eval_logits": out.predictions["digit"].tolist(), "eval_graph": out.graph_embedding.tolist()}
    model.train()
    torch.manual_seed(1)
    out = model(batch)
    loss, _ = model.loss(out, batch)
    loss.backward()
    result["train_loss"] = float(loss.detach())
    result["train_logits"] = out.predictions["digit"].tolist()
    result["grads"] = {name: p.grad.flatten()[:4].tolist() + [float(p.grad.norm())]
                       for name, p in model.named_parameters() if p.grad is not None}
    return result


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_outputs_match_the_golden_values(case_name):
    golden = json.loads(GOLDEN.read_text())[case_name]
    now = outputs(case_name)
    for key in ("eval_logits", "eval_graph", "train_logits"):
        torch.testing.assert_close(torch.tensor(now[key]), torch.tensor(golden[key]), rtol=0, atol=1e-9, msg=key)
    assert now["train_loss"] == pytest.approx(golden["train_loss"], abs=1e-10)
    assert sorted(now["grads"]) == sorted(golden["grads"])
    for name, values in golden["grads"].items():
        torch.testing.assert_close(torch.tensor(now["grads"][name]), torch.tensor(values), rtol=1e-7, atol=1e-9,
                                   msg=name)


if __name__ == "__main__":
    torch.set_num_threads(1)
    GOLDEN.write_text(json.dumps({name: outputs(name) for name in sorted(CASES)}) + "\n")
    print("wrote", GOLDEN)
