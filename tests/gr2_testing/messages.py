"""Messages the tests publish as other nodes would (one spelling of each)."""

from __future__ import annotations

from geometry_msgs.msg import Pose

import gr2_contract as contract
from gr2_msgs.msg import ActionChunk


def action_chunk(stamp_s: float, positions, quat, dt: float, seq: int, gripper=None,
                 frame: str = contract.BASE_FRAME) -> ActionChunk:
    """An ActionChunk as the policy publishes it: poses at stamp + dt, stamp + 2 dt, ... (stamp is
    the observation time, s), one orientation (x, y, z, w) for all of them, gripper 0 (open) unless given."""
    msg = ActionChunk()
    msg.header.stamp.sec = int(stamp_s)
    msg.header.stamp.nanosec = int((stamp_s - int(stamp_s)) * 1e9)
    msg.header.frame_id = frame
    msg.dt = float(dt)
    for p in positions:
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in p)
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in quat)
        msg.poses.append(pose)
    msg.gripper = [float(g) for g in (gripper if gripper is not None else [0.0] * len(msg.poses))]
    msg.sequence = int(seq)
    return msg
