"""TEST DOUBLE of Kinova's kortex_api (Python) for a Gen3 arm that cannot exist on this machine.

This is not kortex_api and not a simulator of the arm's dynamics. It reproduces only the call
surface gr2_drivers.kinova.arm uses, with the class, method, field and enum names and the
positional signatures of Kinova's published Python API (Kinovarobotics/kortex api_python:
utilities.py, examples 107 gripper low-level and 108 torque control, the generated
BaseClientRpc / BaseCyclicClientRpc stubs and the BaseCyclic/Base/Common .proto enums):

    TCPTransport(), UDPTransport(): connect(ip, port), disconnect()
    RouterClient(transport, RouterClient.basicErrorCallback); RouterClientSendOptions().timeout_ms
    SessionManager(router): CreateSession(Session_pb2.CreateSessionInfo), CloseSession(options)
    BaseClient(router): GetServoingMode(deviceId, options), SetServoingMode(info, deviceId, options),
                        ClearFaults(deviceId, options)
    BaseCyclicClient(router): RefreshFeedback(deviceId, options), Refresh(command, deviceId, options)
    BaseCyclic_pb2.Command: frame_id, actuators.add() -> {flags, position, velocity, command_id},
        interconnect.command_id.identifier, interconnect.gripper_command.command_id.identifier,
        interconnect.gripper_command.motor_cmd.add() -> {position, velocity, force}
    BaseCyclic_pb2.Feedback: actuators[i].{position, velocity, torque} (deg, deg/s, Nm),
        base.{active_state, fault_bank_a, fault_bank_b}, interconnect.gripper_feedback.motor[0].position (%)
    Base_pb2: ServoingModeInformation, SINGLE_LEVEL_SERVOING=2, LOW_LEVEL_SERVOING=3,
        ArmState values (Common.proto) ARMSTATE_IN_FAULT=4, ARMSTATE_SERVOING_LOW_LEVEL=6,
        ARMSTATE_SERVOING_READY=7

Behaviour, so tests can fail: one `FakeGen3` shared by all clients holds the joint angles
(degrees in [0, 360), as the arm reports them) and the gripper (%). Refresh() is refused unless
the base is in LOW_LEVEL_SERVOING (as the arm does), moves each actuator to its commanded
position and the gripper toward its command, and records every command. Tests can script
timeouts (`drop_next`), a dead link (`link_up = False`) and a fault (`inject_fault`). Timeouts
raise KClientException like the real router's.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

from gr2_drivers.kinova.api import KortexApi

# Enum values as in Kinova's .proto files (Base.proto ServoingMode, Common.proto ArmState).
UNSPECIFIED_SERVOING_MODE = 0
SINGLE_LEVEL_SERVOING = 2
LOW_LEVEL_SERVOING = 3
ARMSTATE_IDLE = 2
ARMSTATE_IN_FAULT = 4
ARMSTATE_SERVOING_LOW_LEVEL = 6
ARMSTATE_SERVOING_READY = 7


class KClientException(Exception):
    """Stands in for kortex_api.Exceptions.KClientException (timeouts, link errors)."""


class KServerException(Exception):
    """Stands in for kortex_api.Exceptions.KServerException (the arm refused a request)."""


# --- protobuf-like messages -------------------------------------------------------------------
class _Repeated(list):
    def __init__(self, factory):
        super().__init__()
        self._factory = factory

    def add(self):
        item = self._factory()
        self.append(item)
        return item


@dataclass
class _ActuatorCommand:
    flags: int = 0
    position: float = 0.0
    velocity: float = 0.0
    torque_joint: float = 0.0
    current_motor: float = 0.0
    command_id: int = 0


@dataclass
class _MotorCommand:
    motor_id: int = 0
    position: float = 0.0
    velocity: float = 0.0
    force: float = 0.0


@dataclass
class _CommandId:
    identifier: int = 0


class _GripperCyclicCommand:
    def __init__(self):
        self.command_id = _CommandId()
        self.motor_cmd = _Repeated(_MotorCommand)


class _InterconnectCommand:
    def __init__(self):
        self.command_id = _CommandId()
        self.gripper_command = _GripperCyclicCommand()


class _Command:
    def __init__(self):
        self.frame_id = 0
        self.actuators = _Repeated(_ActuatorCommand)
        self.interconnect = _InterconnectCommand()


@dataclass
class _ActuatorFeedback:
    position: float = 0.0
    velocity: float = 0.0
    torque: float = 0.0


@dataclass
class _MotorFeedback:
    position: float = 0.0
    velocity: float = 0.0


@dataclass
class _BaseFeedback:
    active_state: int = ARMSTATE_SERVOING_READY
    fault_bank_a: int = 0
    fault_bank_b: int = 0


class _GripperFeedback:
    def __init__(self):
        self.motor = _Repeated(_MotorFeedback)


class _InterconnectFeedback:
    def __init__(self):
        self.gripper_feedback = _GripperFeedback()


class _Feedback:
    def __init__(self):
        self.frame_id = 0
        self.base = _BaseFeedback()
        self.actuators = _Repeated(_ActuatorFeedback)
        self.interconnect = _InterconnectFeedback()


@dataclass
class _CreateSessionInfo:
    username: str = ""
    password: str = ""
    session_inactivity_timeout: int = 0
    connection_inactivity_timeout: int = 0


@dataclass
class _ServoingModeInformation:
    servoing_mode: int = UNSPECIFIED_SERVOING_MODE


# --- the arm behind the sockets -----------------------------------------------------------------
@dataclass
class FakeGen3:
    """The state of the (absent) arm that every client of the double talks to."""
    positions_deg: list[float] = field(default_factory=lambda: [0.0, 15.0, 180.0, 230.0, 0.0, 55.0, 90.0])
    gripper_percent: float | None = 10.0
    gripper_step_percent: float = 5.0          # how far the fingers move per cycle toward the command
    ip: str = "192.168.1.10"
    servoing_mode: int = SINGLE_LEVEL_SERVOING
    active_state: int = ARMSTATE_SERVOING_READY
    fault_bank_a: int = 0
    link_up: bool = True
    drops_scheduled: int = 0
    commands: list = field(default_factory=list)       # (frame_id, [deg]*7, gripper %, speed %, force %)
    mode_changes: list = field(default_factory=list)
    sessions_open: int = 0
    sessions_created: int = 0
    transports_open: set = field(default_factory=set)
    clear_faults_calls: int = 0
    last_timeouts_ms: list = field(default_factory=list)

    def drop_next(self, n: int) -> None:
        self.drops_scheduled += n

    def inject_fault(self) -> None:
        self.active_state = ARMSTATE_IN_FAULT
        self.fault_bank_a = 0x1
        self.servoing_mode = SINGLE_LEVEL_SERVOING

    def _check_link(self, options) -> None:
        if options is not None:
            self.last_timeouts_ms.append(options.timeout_ms)
        if not self.link_up:
            raise KClientException("timeout: no answer from the arm")
        if self.drops_scheduled > 0:
            self.drops_scheduled -= 1
            raise KClientException("timeout: UDP frame lost")

    def feedback(self) -> _Feedback:
        fb = _Feedback()
        fb.base.active_state = self.active_state
        fb.base.fault_bank_a = self.fault_bank_a
        for deg in self.positions_deg:
            fb.actuators.add().position = deg % 360.0
        if self.gripper_percent is not None:
            fb.interconnect.gripper_feedback.motor.add().position = self.gripper_percent
        return fb

    def apply(self, command: _Command) -> None:
        if self.active_state == ARMSTATE_IN_FAULT:
            return  # a faulted arm answers with feedback (showing the fault) and ignores the command
        if self.servoing_mode != LOW_LEVEL_SERVOING:
            raise KServerException("Refresh refused: base not in LOW_LEVEL_SERVOING")
        if len(command.actuators) != len(self.positions_deg):
            raise KServerException("wrong number of actuator commands")
        for i, cmd in enumerate(command.actuators):
            if cmd.flags != 1:
                raise KServerException(f"actuator {i + 1} command without the servoing flag")
            if cmd.command_id != command.frame_id:
                raise KServerException(f"actuator {i + 1} command_id != frame_id")
            if not 0.0 <= cmd.position < 360.0:
                raise KServerException(f"actuator {i + 1} position {cmd.position} outside [0, 360)")
            self.positions_deg[i] = cmd.position
        motors = command.interconnect.gripper_command.motor_cmd
        grip = None
        if motors and self.gripper_percent is not None:
            m = motors[0]
            step = max(-self.gripper_step_percent, min(self.gripper_step_percent, m.position - self.gripper_percent))
            self.gripper_percent += step
            grip = (m.position, m.velocity, m.force)
        self.commands.append((command.frame_id, [c.position for c in command.actuators], grip))


# --- API classes --------------------------------------------------------------------------------
class _Transport:
    arm: FakeGen3 = None  # set by make_api

    def connect(self, ip: str, port: int) -> None:
        if not self.arm.link_up or ip != self.arm.ip:
            raise KClientException(f"cannot connect to {ip}:{port}")
        self.port = port
        self.arm.transports_open.add(port)

    def disconnect(self) -> None:
        self.arm.transports_open.discard(getattr(self, "port", None))


class RouterClientSendOptions:
    def __init__(self):
        self.andForget = False
        self.delay_ms = 0
        self.timeout_ms = 10000


class RouterClient:
    def __init__(self, transport, errorCallback=None):
        self.transport = transport
        self.arm = transport.arm

    @staticmethod
    def basicErrorCallback(exception):
        print("router error:", exception)


class SessionManager:
    def __init__(self, router: RouterClient):
        self.arm = router.arm

    def CreateSession(self, createSessionInfo, deviceId=0, options=None):
        self.arm._check_link(options)
        if (createSessionInfo.username, createSessionInfo.password) != ("admin", "admin"):
            raise KServerException("login refused")
        self.arm.sessions_open += 1
        self.arm.sessions_created += 1

    def CloseSession(self, options=None):
        self.arm._check_link(options)
        self.arm.sessions_open -= 1


class BaseClient:
    def __init__(self, router: RouterClient):
        self.arm = router.arm

    def GetServoingMode(self, deviceId=0, options=None):
        self.arm._check_link(options)
        return _ServoingModeInformation(self.arm.servoing_mode)

    def SetServoingMode(self, servoingmodeinformation, deviceId=0, options=None):
        self.arm._check_link(options)
        if self.arm.active_state == ARMSTATE_IN_FAULT and servoingmodeinformation.servoing_mode == LOW_LEVEL_SERVOING:
            raise KServerException("cannot enter low-level servoing while in fault")
        self.arm.servoing_mode = servoingmodeinformation.servoing_mode
        self.arm.active_state = (ARMSTATE_SERVOING_LOW_LEVEL if self.arm.servoing_mode == LOW_LEVEL_SERVOING
                                 else ARMSTATE_SERVOING_READY)
        self.arm.mode_changes.append(self.arm.servoing_mode)

    def ClearFaults(self, deviceId=0, options=None):
        self.arm._check_link(options)
        self.arm.clear_faults_calls += 1
        self.arm.active_state = ARMSTATE_SERVOING_READY
        self.arm.fault_bank_a = 0


class BaseCyclicClient:
    def __init__(self, router: RouterClient):
        self.arm = router.arm

    def RefreshFeedback(self, deviceId=0, options=None):
        self.arm._check_link(options)
        return self.arm.feedback()

    def Refresh(self, command, deviceId=0, options=None):
        self.arm._check_link(options)
        self.arm.apply(command)
        return self.arm.feedback()


def make_api(arm: FakeGen3) -> KortexApi:
    """A KortexApi bundle whose transports all reach `arm`."""
    tcp = type("TCPTransport", (_Transport,), {"arm": arm})
    udp = type("UDPTransport", (_Transport,), {"arm": arm})
    return KortexApi(
        TCPTransport=tcp, UDPTransport=udp, RouterClient=RouterClient,
        RouterClientSendOptions=RouterClientSendOptions, SessionManager=SessionManager,
        BaseClient=BaseClient, BaseCyclicClient=BaseCyclicClient,
        Session_pb2=types.SimpleNamespace(CreateSessionInfo=_CreateSessionInfo),
        Base_pb2=types.SimpleNamespace(
            ServoingModeInformation=_ServoingModeInformation,
            UNSPECIFIED_SERVOING_MODE=UNSPECIFIED_SERVOING_MODE, SINGLE_LEVEL_SERVOING=SINGLE_LEVEL_SERVOING,
            LOW_LEVEL_SERVOING=LOW_LEVEL_SERVOING, ARMSTATE_IDLE=ARMSTATE_IDLE, ARMSTATE_IN_FAULT=ARMSTATE_IN_FAULT,
            ARMSTATE_SERVOING_LOW_LEVEL=ARMSTATE_SERVOING_LOW_LEVEL, ARMSTATE_SERVOING_READY=ARMSTATE_SERVOING_READY),
        BaseCyclic_pb2=types.SimpleNamespace(Command=_Command, Feedback=_Feedback),
    )
