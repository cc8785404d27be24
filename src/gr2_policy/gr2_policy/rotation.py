"""Rotation conversions (quaternion x,y,z,w <-> matrix <-> continuous 6D) in torch.

Why 6D: the first two matrix columns are a continuous rotation representation, so a
regression head can learn it with an L1 loss; quaternions are only the interface format.
"""
from __future__ import annotations

import torch


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) xyzw -> (..., 3, 3); the quaternion is normalised first."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) xyzw with w >= 0 (Shepperd's method, branch-free)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    w = 0.5 * torch.sqrt((1 + m00 + m11 + m22).clamp_min(0))
    x = 0.5 * torch.sqrt((1 + m00 - m11 - m22).clamp_min(0))
    y = 0.5 * torch.sqrt((1 - m00 + m11 - m22).clamp_min(0))
    z = 0.5 * torch.sqrt((1 - m00 - m11 + m22).clamp_min(0))
    x = torch.copysign(x, m[..., 2, 1] - m[..., 1, 2])
    y = torch.copysign(y, m[..., 0, 2] - m[..., 2, 0])
    z = torch.copysign(z, m[..., 1, 0] - m[..., 0, 1])
    q = torch.stack([x, y, z, w], dim=-1)
    return q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def matrix_to_6d(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> 6D representation (..., 6): the first two columns."""
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def sixd_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt: any (..., 6) vector maps to a proper rotation matrix."""
    a, b = d6[..., :3], d6[..., 3:]
    c0 = torch.nn.functional.normalize(a, dim=-1)
    b = b - (c0 * b).sum(-1, keepdim=True) * c0
    c1 = torch.nn.functional.normalize(b, dim=-1)
    c2 = torch.cross(c0, c1, dim=-1)
    return torch.stack([c0, c1, c2], dim=-1)
