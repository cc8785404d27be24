"""The adapter over kortex_api: sessions, servoing mode, one BaseCyclic cycle, faults.

Everything that touches Kinova's API is in this class, and it uses only these calls
(checked against Kinova's Python API and examples): TCPTransport/UDPTransport.connect and
.disconnect, RouterClient(transport, RouterClient.basicErrorCallback), SessionManager
.CreateSession(Session_pb2.CreateSessionInfo) / .CloseSession(options), BaseClient
.GetServoingMode / .SetServoingMode(Base_pb2.ServoingModeInformation) / .ClearFaults,
BaseCyclicClient.RefreshFeedback(deviceId, options) / .Refresh(command, deviceId, options),
and the BaseCyclic_pb2 Command/Feedback messages. TCP port 10000 carries configuration and
faults, UDP port 10001 the cyclic servo traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from gr2_drivers.kinova.api import KortexApi

TCP_PORT = 10000
UDP_PORT = 10001
SERVO_FLAG = 1                 # ActuatorCommand.flags bit: this actuator follows the command
FRAME_ID_MODULO = 65536        # frame_id is a 16-bit counter on the arm


@dataclass(frozen=True)
class ArmConnectionConfig:
    """How to reach the Gen3 base: address, credentials, session and call timeouts (ms)."""
    robot_ip: str = "192.168.1.10"
    username: str = "admin"
    password: str = "admin"
    session_inactivity_timeout_ms: int = 60000
    connection_inactivity_timeout_ms: int = 2000
    cyclic_timeout_ms: int = 3           # one UDP round trip; Kinova's own examples use 3 ms
    config_timeout_ms: int = 3000        # TCP calls (servoing mode, faults, session)
    expected_actuators: int = 7


@dataclass
class ArmFeedback:
    """One BaseCyclic feedback in Kinova units: joint degrees and deg/s, torques (N m), gripper %."""
    positions_deg: list[float]
    velocities_deg_s: list[float]
    torques_nm: list[float]
    gripper_percent: float | None       # None when no gripper answers on the interconnect
    arm_state: int
    in_fault: bool
    low_level: bool
    fault_bank_a: int
    fault_bank_b: int


class KinovaArm:
    """One connection to a Gen3 base; `api` is kortex_api (or its test double)."""

    def __init__(self, api: KortexApi, config: ArmConnectionConfig):
        self.api = api
        self.config = config
        self._tcp = None
        self._udp = None
        self._tcp_session = None
        self._udp_session = None
        self.base = None
        self.base_cyclic = None
        self.command = None
        self._gripper_motor = None
        self._previous_mode = None
        self.servoing = False

    # -- connection -----------------------------------------------------------------------
    def _options(self, timeout_ms: int):
        options = self.api.RouterClientSendOptions()
        options.timeout_ms = timeout_ms
        return options

    def _open(self, transport_cls, port: int):
        transport = transport_cls()
        router = self.api.RouterClient(transport, self.api.RouterClient.basicErrorCallback)
        transport.connect(self.config.robot_ip, port)
        info = self.api.Session_pb2.CreateSessionInfo()
        info.username = self.config.username
        info.password = self.config.password
        info.session_inactivity_timeout = self.config.session_inactivity_timeout_ms
        info.connection_inactivity_timeout = self.config.connection_inactivity_timeout_ms
        session = self.api.SessionManager(router)
        session.CreateSession(info)
        return transport, router, session

    def connect(self) -> None:
        """TCP session for configuration/faults and UDP session for BaseCyclic."""
        self.disconnect()
        self._tcp, tcp_router, self._tcp_session = self._open(self.api.TCPTransport, TCP_PORT)
        self._udp, udp_router, self._udp_session = self._open(self.api.UDPTransport, UDP_PORT)
        self.base = self.api.BaseClient(tcp_router)
        self.base_cyclic = self.api.BaseCyclicClient(udp_router)

    def disconnect(self) -> None:
        """Close sessions and transports, tolerating a dead link (used on the error path)."""
        for session in (self._udp_session, self._tcp_session):
            if session is not None:
                try:
                    session.CloseSession(self._options(1000))
                except Exception:  # noqa: BLE001 - the link may already be gone
                    pass
        for transport in (self._udp, self._tcp):
            if transport is not None:
                try:
                    transport.disconnect()
                except Exception:  # noqa: BLE001
                    pass
        self._tcp = self._udp = self._tcp_session = self._udp_session = None
        self.base = self.base_cyclic = None
        self.servoing = False

    @property
    def connected(self) -> bool:
        return self.base is not None and self.base_cyclic is not None

    # -- servoing -------------------------------------------------------------------------
    def read_feedback(self) -> ArmFeedback:
        raw = self.base_cyclic.RefreshFeedback(0, self._options(self.config.cyclic_timeout_ms))
        return self._convert(raw)

    def start_low_level(self) -> ArmFeedback:
        """Build the first command from feedback (no jump), switch to LOW_LEVEL_SERVOING, send it."""
        raw = self.base_cyclic.RefreshFeedback(0, self._options(self.config.config_timeout_ms))
        if len(raw.actuators) != self.config.expected_actuators:
            raise RuntimeError(f"the arm reports {len(raw.actuators)} actuators, "
                               f"expected {self.config.expected_actuators} (Gen3 7-DoF)")
        pb = self.api.BaseCyclic_pb2
        command = pb.Command()
        command.frame_id = 0
        for actuator in raw.actuators:
            cmd = command.actuators.add()
            cmd.flags = SERVO_FLAG
            cmd.position = actuator.position
            cmd.velocity = 0.0
            cmd.command_id = 0
        command.interconnect.command_id.identifier = 0
        command.interconnect.gripper_command.command_id.identifier = 0
        motor = command.interconnect.gripper_command.motor_cmd.add()
        gripper = self._gripper_percent(raw)
        motor.position = gripper if gripper is not None else 0.0
        motor.velocity = 0.0
        motor.force = 100.0
        self.command, self._gripper_motor = command, motor

        base_pb2 = self.api.Base_pb2
        self._previous_mode = self.base.GetServoingMode(0, self._options(self.config.config_timeout_ms))
        mode = base_pb2.ServoingModeInformation()
        mode.servoing_mode = base_pb2.LOW_LEVEL_SERVOING
        self.base.SetServoingMode(mode, 0, self._options(self.config.config_timeout_ms))
        self.servoing = True
        return self._convert(self.base_cyclic.Refresh(command, 0, self._options(self.config.config_timeout_ms)))

    def cycle(self, positions_deg: list[float], velocities_deg_s: list[float],
              gripper_percent: float, gripper_speed_percent: float, gripper_force_percent: float) -> ArmFeedback:
        """One BaseCyclic exchange: joint setpoints + gripper command out, feedback back."""
        if not self.servoing or self.command is None:
            raise RuntimeError("cycle() called while not in low-level servoing")
        command = self.command
        command.frame_id = (command.frame_id + 1) % FRAME_ID_MODULO
        for cmd, position, velocity in zip(command.actuators, positions_deg, velocities_deg_s, strict=False):
            cmd.position = position
            cmd.velocity = velocity
            cmd.command_id = command.frame_id
        motor = self._gripper_motor
        motor.position = gripper_percent
        motor.velocity = gripper_speed_percent
        motor.force = gripper_force_percent
        raw = self.base_cyclic.Refresh(command, 0, self._options(self.config.cyclic_timeout_ms))
        return self._convert(raw)

    def stop_low_level(self) -> None:
        """Back to single-level servoing (what the arm's own controllers and the pendant use)."""
        if self.base is None:
            self.servoing = False
            return
        base_pb2 = self.api.Base_pb2
        mode = base_pb2.ServoingModeInformation()
        mode.servoing_mode = base_pb2.SINGLE_LEVEL_SERVOING
        try:
            self.base.SetServoingMode(mode, 0, self._options(self.config.config_timeout_ms))
        finally:
            self.servoing = False

    def clear_faults(self) -> None:
        self.base.ClearFaults(0, self._options(self.config.config_timeout_ms))

    # -- conversion -----------------------------------------------------------------------
    @staticmethod
    def _gripper_percent(raw) -> float | None:
        motors = raw.interconnect.gripper_feedback.motor
        return float(motors[0].position) if len(motors) > 0 else None

    def _convert(self, raw) -> ArmFeedback:
        base_pb2 = self.api.Base_pb2
        state = raw.base.active_state
        return ArmFeedback(
            positions_deg=[a.position for a in raw.actuators],
            velocities_deg_s=[a.velocity for a in raw.actuators],
            torques_nm=[a.torque for a in raw.actuators],
            gripper_percent=self._gripper_percent(raw),
            arm_state=state,
            in_fault=state == base_pb2.ARMSTATE_IN_FAULT,
            low_level=state == base_pb2.ARMSTATE_SERVOING_LOW_LEVEL,
            fault_bank_a=raw.base.fault_bank_a,
            fault_bank_b=raw.base.fault_bank_b,
        )
