"""Fine-tuning from a pretrained run: each mode trains what it says and leaves the rest untouched."""

import pytest
import torch

from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, seed_everything
from mmgraph.train.finetune import BACKBONE_LR_SCALE, PROBE_LR, finetune
from mmgraph.train.pretrain import PretrainConfig, pretrain
from mmgraph.train.runs import init_from

SMALL = ModelConfig(hidden=16, layers=1, heads=2)
BUDGET = TrainConfig(steps=6, batch_size=32, lr=3e-3, progress=False)


@pytest.fixture(scope="module")
def pretrained(shared_info, tmp_path_factory):
    ds, splits = shared_info
    run = tmp_path_factory.mktemp("pretrained")
    seed_everything(0)
    pretrain(splits["train"], run, model_config=SMALL, pretrain_config=PretrainConfig(chance_guard=False),
             train_config=TrainConfig(steps=10, batch_size=32, progress=False))
    return run


def initialised(shared_info, run):
    ds, splits = shared_info
    seed_everything(1)
    model = build_model(SMALL.replace(tasks=["y"]), DataSpec.from_graph_config(splits["train"].config, ds.tasks))
    init_from(model, run)
    return model, {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(model, before, prefix: str | tuple[str, ...]) -> dict[str, bool]:
    params = dict(model.named_parameters())
    return {k: not torch.equal(params[k], before[k]) for k in params if k.startswith(prefix)}


def test_probe_trains_only_the_head(shared_info, pretrained):
    _, splits = shared_info
    model, before = initialised(shared_info, pretrained)
    trainer, fit = finetune(model, splits["train"], None, BUDGET, "probe")
    backbone = changed(model, before, ("encoders.", "layers.", "readout."))
    assert backbone and not any(backbone.values())  # frozen: every tensor exactly as pretrained
    assert any(changed(model, before, "head.").values())
    # the pretrained encoders keep their input statistics (a probe reads the features pretraining made)
    state = model.state_dict()
    assert torch.equal(state["encoders.audio.input_mean"], before["encoders.audio.input_mean"])
    assert trainer.config.lr == PROBE_LR and len(fit.history) == 2  # 6 steps of 32 over 160 samples: 2 epochs
    assert all(p.requires_grad for p in model.parameters())  # unfrozen afterwards


def test_full_and_lpft_train_everything_lpft_the_backbone_slower(shared_info, pretrained):
    _, splits = shared_info
    for mode in ("full", "lpft"):
        model, before = initialised(shared_info, pretrained)
        trainer, _ = finetune(model, splits["train"], None, BUDGET, mode)
        assert all(changed(model, before, ("encoders.audio.conv", "layers.", "head.")).values()), mode
        groups = {round(g["lr"], 12): len(g["params"]) for g in trainer.param_groups()}
        if mode == "full":
            assert set(groups) == {BUDGET.lr}
        else:  # the second phase: the head at lr, the pretrained parameters at BACKBONE_LR_SCALE x lr
            head = sum(1 for n, _ in model.named_parameters() if n.startswith("head."))
            rest = len(list(model.parameters())) - head
            assert groups == {BUDGET.lr: head, round(BUDGET.lr * BACKBONE_LR_SCALE, 12): rest}


def test_lpft_probes_first(shared_info, pretrained, monkeypatch):
    """lpft's first phase is the probe (head alone, backbone unchanged), for half the steps."""
    import mmgraph.train.finetune as ft

    _, splits = shared_info
    model, before = initialised(shared_info, pretrained)
    phases = []
    real = ft.Trainer.fit

    def recording_fit(self, *args, **kwargs):
        trainable = {n for n, p in self.model.named_parameters() if p.requires_grad}
        phases.append((self.config.steps, self.config.lr, trainable))
        result = real(self, *args, **kwargs)
        if len(phases) == 1:
            assert not any(changed(self.model, before, ("encoders.", "layers.", "readout.")).values())
        return result

    monkeypatch.setattr(ft.Trainer, "fit", recording_fit)
    finetune(model, splits["train"], None, BUDGET, "lpft")
    (steps1, lr1, trainable1), (steps2, lr2, trainable2) = phases
    assert (steps1, lr1, steps2, lr2) == (3, PROBE_LR, 3, BUDGET.lr)
    assert all(n.startswith("head.") for n in trainable1) and trainable2 == {n for n, _ in model.named_parameters()}


def test_finetune_mode_is_checked():
    with pytest.raises(ValueError, match=r"--finetune must be one of \['full', 'probe', 'lpft'\]"):
        finetune(None, None, None, BUDGET, "lp")
