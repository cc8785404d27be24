"""The interface contract of the GR-2 stack (the README's "Interface (contract v1)") as importable constants.

One source of truth for topic names, joint names, frames and nominal rates: every node
and test imports these instead of spelling a name again. ROS-free (no rclpy import), so
cores and tests can use it too. Installed by the gr2_msgs package next to the messages,
because it is part of the same interface.
"""

from __future__ import annotations

# Frames (REP-103: metres, radians, seconds; quaternions x, y, z, w).
BASE_FRAME = "base_link"

# ros2_kortex joint names.
ARM_JOINTS: tuple[str, ...] = tuple(f"joint_{i}" for i in range(1, 8))
GRIPPER_JOINT = "robotiq_85_left_knuckle_joint"

# realsense-ros style camera names; topics are /<camera>/color/image_raw and /camera_info.
HEAD_CAMERA = "head_camera"
WRIST_CAMERA = "wrist_camera"
CAMERAS: tuple[str, ...] = (HEAD_CAMERA, WRIST_CAMERA)


def image_topic(camera: str) -> str:
    """The colour image topic of `camera` (sensor_msgs/Image): /<camera>/color/image_raw."""
    return f"/{camera}/color/image_raw"


def camera_info_topic(camera: str) -> str:
    """The camera info topic of `camera` (sensor_msgs/CameraInfo): /<camera>/color/camera_info."""
    return f"/{camera}/color/camera_info"


# Topics and services.
INSTRUCTION = "/gr2/instruction"
JOINT_STATES = "/joint_states"
ROBOT_STATE = "/gr2/robot_state"
ACTION_CHUNK = "/gr2/action_chunk"
JOINT_COMMAND = "/gr2/joint_command"
GRIPPER_COMMAND = "/gr2/gripper_command"
PREDICTED_IMAGE = {HEAD_CAMERA: "/gr2/predicted/head/image_raw",
                   WRIST_CAMERA: "/gr2/predicted/wrist/image_raw"}
POLICY_STATUS = "/gr2/policy/status"
WBC_STATUS = "/gr2/wbc/status"
WBC_PLANNED_PATH = "/gr2/wbc/planned_path"
WBC_MARKERS = "/gr2/wbc/markers"
STOP_SERVICE = "/gr2/stop"                          # std_srvs/Trigger: halt, then STOPPED until resumed
RESUME_SERVICE = "/gr2/resume"                      # std_srvs/Trigger: end STOPPED (a new instruction does too)
DIAGNOSTICS = "/diagnostics"

# Teleoperation (MoveIt Servo convention: a TCP twist in a named frame) and demonstration sessions.
SERVO_TWIST = "/gr2/servo/twist"                # geometry_msgs/TwistStamped (base_link or TCP frame): operator -> WBC
SERVO_GRIPPER = "/gr2/servo/gripper_command"    # gr2_msgs/GripperCommand: operator -> WBC
OPERATOR_CONTROL = "/gr2/operator_control"      # std_srvs/SetBool: true: the operator takes control; false: hands back
TELEOP_EVENT = "/gr2/teleop/event"              # std_msgs/String: episode marks from the device (start, success, ...)
EPISODE_OUTCOME = "/gr2/teleop/episode_success"  # std_msgs/Bool: a recorded demonstration's outcome (in its bag)

# Simulation-only interfaces (the real robot has no equivalent; nothing outside sim and demo
# may depend on them).
SIM_RESET = "/gr2/sim/reset"                        # std_srvs/Trigger: reset to the task/setting/seed parameters
SIM_TASK_SUCCESS = "/gr2/sim/task_success"          # std_msgs/Bool: the current task's success check
SIM_TASK_INSTRUCTION = "/gr2/sim/task_instruction"  # std_msgs/String (transient local): its instruction
SIM_CONTACTS = "/gr2/sim/contacts"                  # gr2_msgs/SimContacts: min robot-environment distance, contact

# Nominal rates, Hz.
# /gr2/joint_command (the WBC cycle); config/wbc.yaml `rate` and kinova.yaml `command_period_s` equal it
CONTROL_RATE_HZ = 200.0
CAMERA_RATE_HZ = 30.0
STATUS_RATE_HZ = 1.0

# History (keep last) of the publishers of the robot's 200-250 Hz streams (/joint_states,
# /gr2/robot_state, /gr2/joint_command; also /gr2/gripper_command, sent on change) and of the bag
# player, and the session recorder's queue: a reliable subscriber (the recorder, a benchmark, the
# lockstep sim) that falls this many messages behind, 0.4-0.5 s, still gets every one. A keep-last
# writer drops the oldest unacknowledged sample when its history is full, so a depth of 10 lost
# every message of a subscriber stalled more than 40-50 ms. Best-effort readers (the WBC, the
# policy, the Kinova driver's command input) take the latest and see no backlog.
HIGH_RATE_HISTORY_DEPTH = 100

# What a session recording (rosbag2, `record:=true`) contains: everything needed to replay the
# policy's inputs and to turn the session into fine-tuning data, and the frames the policy
# predicted (published only when `predict_frames_every` > 0), to set beside the real ones.
RECORDED_TOPICS: tuple[str, ...] = (
    INSTRUCTION, JOINT_STATES, ROBOT_STATE, ACTION_CHUNK, JOINT_COMMAND, GRIPPER_COMMAND,
    POLICY_STATUS, WBC_STATUS, DIAGNOSTICS,
    *(image_topic(c) for c in CAMERAS), *(camera_info_topic(c) for c in CAMERAS),
    *(PREDICTED_IMAGE[c] for c in CAMERAS),
)


def latched_qos(depth: int = 1):
    """QoS of state that a late joiner must get at once: reliable, transient local, keep last.

    Used for the WBC's status (its mode is the control authority the policy follows) and the
    sim's task instruction. Volatile subscribers still match; they just miss the history.
    """
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_fields(seconds: float) -> tuple[int, int]:
    """(sec, nanosec) of a builtin_interfaces/Time for `seconds` (>= 0), rounded to the nearest
    nanosecond as one integer first: 12.9999999996 s is (13, 0), never (12, 0) (a step back of a
    second) nor (12, 1000000000) (out of range)."""
    sec, nanosec = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return int(sec), int(nanosec)


def stamp_seconds(stamp) -> float:
    """A builtin_interfaces/Time (rclpy message or rosbags dataclass) in seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_problem(name: str, stamp: float, now: float, max_age: float, future_tolerance: float,
                  received: float | None = None) -> str | None:
    """The one rule for a stamped input (camera frame, robot state, action chunk): why it must not
    be used at `now`, or None. All times in seconds on one clock (the consumer's).

    - stamped more than `future_tolerance` ahead of `now`: another clock domain or a wrong clock;
    - stamped more than `max_age` before `now`: stale;
    - `received` (arrival time) more than `max_age` before `now`: the stream stopped, whatever its
      stamps say (a stream stamped in the future would otherwise never go stale).
    """
    if stamp - now > future_tolerance:
        return (f"{name} stamped {stamp - now:.3f} s ahead of this node's clock (limit {future_tolerance:.3f} s; "
                f"another clock domain?)")
    if now - stamp > max_age:
        return f"{name} {(now - stamp) * 1e3:.0f} ms old (limit {max_age * 1e3:.0f} ms)"
    if received is not None and now - received > max_age:
        return f"{name} stream stopped: last message arrived {(now - received) * 1e3:.0f} ms ago"
    return None


def unwrap_near(angle, reference):
    """The one unwrapping rule for continuous joints: the angle equal to `angle` modulo 2*pi that
    is closest to `reference` (rad; floats or numpy arrays). Every producer of a continuous joint's
    angle (the Kinova driver's feedback, also across reconnects; bag -> dataset) continues from its
    previous value this way, so no published or recorded angle steps by 2*pi; consumers (the WBC)
    then take the angles as they are."""
    import math

    import numpy as np
    if np.ndim(angle) == 0 and np.ndim(reference) == 0:
        return float(reference) + math.remainder(float(angle) - float(reference), 2.0 * math.pi)
    delta = np.asarray(angle, dtype=float) - reference
    return reference + (delta - 2.0 * np.pi * np.round(delta / (2.0 * np.pi)))


def angle_difference(a, b, continuous):
    """a - b per joint (rad), the shortest way round for continuous joints (numpy arrays)."""
    import numpy as np
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.where(continuous, unwrap_near(a, b) - b, a - b)
