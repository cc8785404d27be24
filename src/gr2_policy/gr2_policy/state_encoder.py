"""Robot state -> one token: EE position, EE rotation and the binary gripper via linear layers.

Why three separate linear layers summed (not one over the concatenation): each quantity gets
its own learned scale, and the paper describes the state as encoded "via linear layers".
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .rotation import matrix_to_6d, quat_to_matrix


class StateEncoder(nn.Module):
    """Robot state -> one token of size `n_embd` (module docstring); positions are divided by
    `workspace_scale` (m). Steps without a robot state get a learned `absent` token."""

    def __init__(self, n_embd: int, workspace_scale: float):
        super().__init__()
        self.workspace_scale = workspace_scale
        self.pos = nn.Linear(3, n_embd)
        self.rot = nn.Linear(6, n_embd)
        self.grip = nn.Linear(1, n_embd)
        self.absent = nn.Parameter(torch.zeros(n_embd))  # video-only clips have no robot state

    def forward(self, pos: torch.Tensor, quat: torch.Tensor, gripper_closure: torch.Tensor,
                valid: torch.Tensor) -> torch.Tensor:
        """pos (..., 3) m in base_link, quat (..., 4) xyzw, gripper_closure (...) in [0, 1]
        (model_input.gripper_closure), valid (...) bool."""
        rot6 = matrix_to_6d(quat_to_matrix(quat))
        e = self.pos(pos / self.workspace_scale) + self.rot(rot6) + self.grip(gripper_closure.unsqueeze(-1).float())
        return torch.where(valid.unsqueeze(-1), e, self.absent.expand_as(e))
