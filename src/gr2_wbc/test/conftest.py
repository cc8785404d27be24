"""Shared fixtures for the controller core tests: one robot model (hull building takes ~0.5 s)
and a closed loop around the controller with an ideal position-controlled arm (measured =
commanded), which is what the core is specified against; the sim tests add real dynamics."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from gr2_wbc.config import load_controller_config
from gr2_wbc.controller import Controller, ControllerConfig
from gr2_wbc.robot_model import RobotModel
from gr2_wbc.trajectory import ChunkData


@pytest.fixture(scope="session")
def wbc_config() -> ControllerConfig:
    cfg = load_controller_config()
    # The core tests run the controller on a simulated clock: chunks are optimised in-process
    # (the same optimiser; test_optimiser_process and the node tests cover the child process).
    cfg.optimiser_process = False
    return cfg


@pytest.fixture(scope="session")
def robot(wbc_config) -> RobotModel:
    return RobotModel.load(wbc_config.model)


def make_chunk(stamp: float, positions, quat, gripper=None, dt: float = 0.1, seq: int = 0,
               frame: str = "base_link") -> ChunkData:
    positions = np.asarray(positions, dtype=float)
    k = len(positions)
    return ChunkData(stamp=stamp, dt=dt, positions=positions,
                     quaternions=np.tile(np.asarray(quat, dtype=float), (k, 1)),
                     gripper=np.zeros(k) if gripper is None else np.asarray(gripper, dtype=float),
                     frame_id=frame, sequence=seq)


class Loop:
    """Controller + ideal arm on a simulated clock."""

    def __init__(self, controller: Controller, q0=None):
        self.c = controller
        self.now = 0.0
        self.q = np.array(q0 if q0 is not None else controller.robot.description.home, dtype=float)
        self.log: list[dict] = []
        self.c.update_measurement(self.now, self.q)
        self.home_pose = controller.robot.forward(self.q)
        self.quat = pin.Quaternion(self.home_pose.rotation).coeffs().copy()   # x, y, z, w

    def run(self, duration: float, on_cycle=None, measure: bool = True) -> None:
        for _ in range(int(round(duration / self.c.cfg.period))):
            if on_cycle:
                on_cycle(self)
            out = self.c.step(self.now)
            self.now += self.c.cfg.period
            if out is not None:
                self.q = out.position
                self.log.append(dict(t=self.now, q=out.position.copy(), qd=out.velocity.copy(),
                                     mode=out.mode, gripper=out.gripper,
                                     min_distance=self.c.min_distance, error=self.c.position_error))
            if measure:
                self.c.update_measurement(self.now, self.q)

    def array(self, key: str) -> np.ndarray:
        return np.array([e[key] for e in self.log])


@pytest.fixture
def loop(wbc_config, robot):
    return Loop(Controller(wbc_config, robot=robot))


@pytest.fixture
def make_loop(wbc_config, robot):
    def factory(**overrides) -> Loop:
        import copy
        cfg = copy.deepcopy(wbc_config)
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return Loop(Controller(cfg, robot=robot))
    return factory
