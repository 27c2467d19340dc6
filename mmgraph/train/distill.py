"""Cross-modal knowledge distillation: a trained (multimodal) teacher guides a student.

The teacher sees every modality of a sample; the student (e.g. the image-only graph model,
``ModelConfig(modalities=["image"])``) reads only its own node types from the same batch. The
student learns from the labels and from the teacher's temperature-softened predictions (Hinton
et al. 2015), so that knowledge the teacher gets from another modality transfers into a model
that never sees that modality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.heads import ClassificationHead, Head
from mmgraph.nn.prepare import Embed, TrainingData


@dataclass
class DistillationOutput:
    """The student's ``ModelOutput`` and the teacher's predictions on the same batch.

    ``predictions`` and ``graph_embedding`` are the student's (what the ``Trainer`` evaluates).
    """

    student: ModelOutput
    teacher_predictions: dict[str, Tensor]

    @property
    def predictions(self) -> dict[str, Tensor]:
        return self.student.predictions

    @property
    def graph_embedding(self) -> Tensor:
        return self.student.graph_embedding


class DistillationModel(nn.Module):
    r"""A student trained on its task losses plus a KL term towards a frozen teacher.

    .. math::
        \mathcal{L} = (1 - \alpha)\, \mathcal{L}_\text{task}(s) + \alpha\, \tau^2
        \operatorname{KL}\bigl(\operatorname{softmax}(t / \tau) \,\Vert\, \operatorname{softmax}(s / \tau)\bigr)

    summed over the graph-level classification tasks that student and teacher share (``tasks``).
    The teacher is frozen and always in eval mode. ``head``, ``task_heads`` and ``prepare`` are the student's, so
    the ``Trainer`` trains, evaluates and selects on the student alone; afterwards ``.student`` is a
    plain model.

    Args:
        student: the model to train.
        teacher: a trained model (its parameters are frozen here).
        temperature: :math:`\tau`.
        alpha: weight of the distillation term (0: the student alone).
        tasks: tasks to distil (default: every graph-level classification task of both).

    Shapes:
        - input: a batched ``HeteroData`` holding every node type the teacher reads
        - output: ``DistillationOutput``
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.5,
                 tasks: Sequence[str] | None = None) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"'temperature' must be > 0 (got {temperature})")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"'alpha' must be in [0, 1] (got {alpha})")
        self.student, self.teacher = student, teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.temperature, self.alpha = temperature, alpha
        shared = [name for name, head in student.task_heads.items()
                  if isinstance(head, ClassificationHead) and head.level == "graph"
                  and name in teacher.task_heads and isinstance(teacher.task_heads[name], ClassificationHead)]
        if tasks is not None:
            unknown = sorted(set(tasks) - set(shared))
            if unknown:
                raise ValueError(f"cannot distil {unknown}: not a graph classification task of both "
                                 f"(shared: {shared})")
            shared = [t for t in shared if t in tasks]
        if not shared:
            raise ValueError("student and teacher share no graph-level classification task to distil")
        self.tasks = shared

    @property
    def head(self):
        return self.student.head

    @property
    def supports_dense_blocks(self) -> bool:
        """Whether both models read complete blocks from their ``dense=True`` marks (both read every batch)."""
        return all(getattr(m, "supports_dense_blocks", False) for m in (self.student, self.teacher))

    @property
    def task_heads(self) -> Mapping[str, Head]:
        """The student's task heads (what the ``Trainer`` evaluates and selects on)."""
        return self.student.task_heads

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """The student's set-up before training (the trained teacher is kept as it is)."""
        self.student.prepare(data, embed, seed)

    def train(self, mode: bool = True) -> DistillationModel:
        super().train(mode)
        self.teacher.eval()  # no dropout, no modality dropout: the teacher's best predictions
        return self

    def forward(self, batch: HeteroData) -> DistillationOutput:
        with torch.no_grad():
            teacher = self.teacher(batch).predictions
        return DistillationOutput(self.student(batch), {t: teacher[t] for t in self.tasks})

    def distillation_loss(self, student: Tensor, teacher: Tensor) -> Tensor:
        """:math:`\\tau^2 \\operatorname{KL}(p_t \\Vert p_s)` of two ``(B, C)`` logit tensors, mean over rows."""
        tau = self.temperature
        return F.kl_div(F.log_softmax(student / tau, dim=-1), F.log_softmax(teacher / tau, dim=-1),
                        log_target=True, reduction="batchmean") * tau**2

    def loss(self, output: DistillationOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        task_loss, parts = self.student.loss(output.student, batch)
        kd = torch.stack([self.distillation_loss(output.student.predictions[t], output.teacher_predictions[t])
                          for t in self.tasks]).sum()
        parts["distillation"] = kd
        return (1.0 - self.alpha) * task_loss + self.alpha * kd, parts

    def __repr__(self) -> str:
        return (f"DistillationModel(student={self.student.__class__.__name__}, "
                f"teacher={self.teacher.__class__.__name__}, temperature={self.temperature}, alpha={self.alpha}, "
                f"tasks={self.tasks})")
