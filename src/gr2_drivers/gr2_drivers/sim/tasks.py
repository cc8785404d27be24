"""Tabletop tasks mirroring the GR-2 paper's skills: objects, randomised layouts, language
instructions, success checks and a scripted expert (Cartesian waypoints) per task.

A task adds its objects to the MjSpec once per (task, setting) (World caches the compiled
model) and, at every reset, draws poses and colours from the episode's seeded RNG by writing
qpos / body_pos / geom_rgba. Settings follow the paper's evaluation: `simple`, `distractor`
(extra objects), `unseen_background` (table and backdrop colours never used in `simple` or
`distractor`), `cluttered` (bin picking with twice the objects; tabletop tasks get twice the
distractors). Left/right are the robot's (base_link +y is its left, REP-103). ROS-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from .model_builder import ROBOT_BIT, SCENE_BIT

SETTINGS = ("simple", "distractor", "unseen_background", "cluttered")
# Episode seeds from here on are held out for evaluation: dataset generation refuses them and the
# evaluators start at them, so training and evaluation layouts never overlap.
EVAL_FIRST_SEED = 100_000
# Articulated parts collide with the robot and free objects, not with the table they slide on.
PART_BIT = 4

COLORS = {
    "red": (0.85, 0.12, 0.10), "green": (0.15, 0.65, 0.20), "blue": (0.12, 0.30, 0.85),
    "yellow": (0.92, 0.82, 0.10), "purple": (0.55, 0.20, 0.70), "orange": (0.95, 0.50, 0.08),
}
# Table / backdrop colours: the first set is used for training data, the second only in unseen_background.
SEEN_TABLES = [(0.55, 0.45, 0.35), (0.60, 0.52, 0.42), (0.48, 0.40, 0.32)]
UNSEEN_TABLES = [(0.20, 0.35, 0.45), (0.75, 0.75, 0.72), (0.30, 0.30, 0.30)]
SEEN_BACKDROPS = [(0.80, 0.80, 0.82), (0.85, 0.82, 0.78)]
UNSEEN_BACKDROPS = [(0.35, 0.50, 0.35), (0.55, 0.35, 0.30)]

# Object colours whose pairs the tokenizers confuse (red/orange/yellow, blue/purple; README "Why
# grounding stops near 90%") and pick_cube policies mix up most (bench/grounding_failures.py).
NEIGHBOUR_HUES = (frozenset({"red", "orange"}), frozenset({"orange", "yellow"}), frozenset({"red", "yellow"}),
                  frozenset({"blue", "purple"}))


def object_colours(task) -> dict[str, str]:
    """Colour name of every coloured object of a laid-out task: the task's own (`task.colors`, the
    named one first) and the `distractor` setting's extra objects (distractor0, ...). The own
    objects are keyed obj0, obj1, ... as the pick tasks name their bodies; other tasks colour other
    bodies in that order (buttons, jars, cups; a plate or bowl last), for which the keys are labels only."""
    own = {f"obj{i}": c for i, c in enumerate(getattr(task, "colors", None) or [])}
    return own | {f"distractor{i}": c for i, c in enumerate(getattr(task, "distractor_colors", None) or [])}


def neighbour_hue_cube(task) -> bool:
    """Whether the target (obj0) has a neighbouring hue among the task's own other objects (obj1, ...);
    the extra distractor objects are not looked at (the predicate stage 21a drew its layouts with)."""
    colors = getattr(task, "colors", None) or []
    return any(frozenset({colors[0], c}) in NEIGHBOUR_HUES for c in colors[1:])


def neighbour_hue_objects(task) -> list[str]:
    """The other objects of a laid-out task (obj1, ..., then distractor0, ...) whose colour neighbours
    the target's (obj0)."""
    colours = object_colours(task)
    target = colours.pop("obj0", None)
    return [n for n, c in colours.items() if target is not None and frozenset({target, c}) in NEIGHBOUR_HUES]


def neighbour_hue_any(task) -> bool:
    """Whether any other object in the scene (the task's own or a distractor) has a hue neighbouring
    the target's (obj0)."""
    return bool(neighbour_hue_objects(task))


# Named predicates on a laid-out task, to draw training layouts from a part of the distribution
# (`python -m gr2_bringup.dagger --layouts NAME`); evaluation always takes every seed.
LAYOUT_FILTERS = {"all": lambda task: True, "neighbour_hue_cube": neighbour_hue_cube,
                  "neighbour_hue_any": neighbour_hue_any}

CUBE_HALF = 0.02
DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # TCP pointing down (home)


def tcp_rotation(yaw: float, tilt: float = 0.0) -> np.ndarray:
    """TCP pointing down, turned by `yaw` about the vertical (fingers open along yaw+90 deg), then
    tilted by `tilt` (rad) about its own x axis, the line through the finger pads: a positive tilt
    swings the TCP's approach axis towards -y_tcp, i.e. tips a held cup's mouth towards
    (cos yaw, sin yaw) in the world."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    if tilt == 0.0:  # the untilted product exactly as before tilt existed (bit-identical plans)
        return rz @ DOWN
    ct, st = np.cos(tilt), np.sin(tilt)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, ct, -st], [0.0, st, ct]])
    return rz @ DOWN @ rx


@dataclass
class Waypoint:
    """A TCP target (base_link, m), its yaw (rad), the gripper (0 open .. 1 closed), a dwell (s),
    the TCP speed (m/s) of the segment that reaches it (None: the expert's default) and its tilt
    (rad, about the pads' line: `tcp_rotation`; 0 points straight down, as in every task but pouring)."""
    pos: np.ndarray
    yaw: float = 0.0
    gripper: float = 0.0
    dwell: float = 0.0
    speed: float | None = None
    tilt: float = 0.0


# ---------------------------------------------------------------------------- scene helpers
def add_free_object(spec: mujoco.MjSpec, name: str, shape: str, size, mass: float = 0.05) -> None:
    """Add a free-floating box or cylinder `name` to `spec` (`size`: MuJoCo half-sizes, m; `mass`: kg),
    parked 1 m below the table until a task's layout places it."""
    body = spec.worldbody.add_body(name=name, pos=[0.0, 0.0, -1.0])
    body.add_freejoint(name=name + "/free")
    gtype = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER}[shape]
    body.add_geom(name=name, type=gtype, size=list(size), mass=mass, friction=[1.0, 0.01, 0.001],
                  contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT | PART_BIT, condim=4)


def add_static_box(parent, name: str, pos, size, rgba, collide: bool = True) -> None:
    """Add a fixed box geom (half-sizes `size`, m) to `parent`, colliding with scene and robot if `collide`."""
    parent.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=list(pos), size=list(size), rgba=list(rgba),
                    contype=SCENE_BIT if collide else 0, conaffinity=(SCENE_BIT | ROBOT_BIT) if collide else 0)


def set_free_pose(world, name: str, pos, yaw: float = 0.0) -> None:
    """Place free object `name` at `pos` (m, world frame), turned by `yaw` (rad) about z."""
    m, d = world.model, world.data
    adr = m.jnt_qposadr[m.joint(name + "/free").id]
    d.qpos[adr:adr + 3] = pos
    d.qpos[adr + 3:adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]


def free_pos(world, name: str) -> np.ndarray:
    """World position (m) of free object `name`."""
    return world.data.body(name).xpos.copy()


def set_rgb(world, geom: str, rgb) -> None:
    """Set the colour (RGB, 0..1) of geom `geom`."""
    world.model.geom_rgba[world.model.geom(geom).id, :3] = rgb


def unseen_scene_colors(rng: np.random.Generator, min_distance: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(table, backdrop) RGB (0..1) for scenes that no setting shows: uniform in [0.05, 0.95]^3, each
    at least `min_distance` (RGB Euclidean) from every table and backdrop colour of every setting
    (SEEN_* and UNSEEN_*), so neither fine-tuning nor an `unseen_background` evaluation has them.
    What video pre-training clips are filmed in (gr2_bringup.video_clips)."""
    palette = np.array(SEEN_TABLES + UNSEEN_TABLES + SEEN_BACKDROPS + UNSEEN_BACKDROPS)
    picked = []
    for _ in range(2):
        for _ in range(1000):
            rgb = rng.uniform(0.05, 0.95, 3)
            if np.linalg.norm(palette - rgb, axis=1).min() >= min_distance:
                picked.append(rgb)
                break
        else:
            raise RuntimeError(f"no colour {min_distance} from the palettes in 1000 draws")
    return picked[0], picked[1]


def sample_positions(rng, n: int, x_range, y_range, min_dist: float, avoid=()) -> list[np.ndarray]:
    """n points on the table at least min_dist apart (and from `avoid`), by rejection sampling."""
    for _ in range(200):  # greedy placement, restarted when it paints itself into a corner
        points: list[np.ndarray] = []
        for _ in range(200):
            p = np.array([rng.uniform(*x_range), rng.uniform(*y_range)])
            if all(np.linalg.norm(p - q) >= min_dist for q in [*points, *avoid]):
                points.append(p)
                if len(points) == n:
                    return points
    raise RuntimeError(f"could not place {n} objects {min_dist} m apart")


# ---------------------------------------------------------------------------- base class
class Task:
    """A manipulation task: its objects in the scene, a seeded layout, a success check and the expert's plan.

    Subclasses implement `build_objects`, `layout` (returns the instruction), `success` and `expert`.
    """
    name = ""
    skill = ""
    n_distractors = 3
    workspace_x = (0.35, 0.62)
    workspace_y = (-0.22, 0.22)

    def build(self, spec: mujoco.MjSpec, setting: str) -> None:
        if setting not in SETTINGS:
            raise ValueError(f"unknown setting {setting!r}; known: {SETTINGS}")
        self.build_objects(spec, setting)
        for i in range(self.distractor_count(setting)):
            shape = "box" if i % 2 == 0 else "cylinder"
            size = [0.018, 0.018, 0.018] if shape == "box" else [0.018, 0.025]
            add_free_object(spec, f"distractor{i}", shape, size)

    def distractor_count(self, setting: str) -> int:
        """Extra objects: `distractor` adds some, `cluttered` twice as many (bin picking doubles
        its own objects instead)."""
        return {"distractor": self.n_distractors, "cluttered": 2 * self.n_distractors}.get(setting, 0)

    def build_objects(self, spec, setting: str) -> None:
        raise NotImplementedError

    def reset(self, world, rng: np.random.Generator, setting: str) -> str:
        tables, backdrops = ((UNSEEN_TABLES, UNSEEN_BACKDROPS) if setting == "unseen_background"
                             else (SEEN_TABLES, SEEN_BACKDROPS))
        set_rgb(world, "table_top", tables[rng.integers(len(tables))])
        set_rgb(world, "backdrop", backdrops[rng.integers(len(backdrops))])
        self.occupied: list[np.ndarray] = []
        instruction = self.layout(world, rng, setting)
        n = self.distractor_count(setting)
        self.distractor_colors: list[str] = []
        if n:
            spots = sample_positions(rng, n, (0.3, 0.72), (-0.32, 0.32), 0.08, avoid=self.occupied)
            for i, p in enumerate(spots):
                set_free_pose(world, f"distractor{i}", [p[0], p[1], 0.0181 if i % 2 == 0 else 0.0251],
                              rng.uniform(-np.pi, np.pi))
                self.distractor_colors.append(self.distractor_color(rng))
                set_rgb(world, f"distractor{i}", COLORS[self.distractor_colors[-1]])
        return instruction

    def distractor_color(self, rng) -> str:
        """A colour name (key of COLORS) for a distractor, none of the task's own objects' colours."""
        used = getattr(self, "used_colors", set())
        names = [c for c in COLORS if c not in used]
        return names[rng.integers(len(names))]

    def layout(self, world, rng, setting: str) -> str:
        raise NotImplementedError

    def success(self, world) -> bool:
        raise NotImplementedError

    def expert(self, world) -> list[Waypoint]:
        raise NotImplementedError

    def replan(self, world, gripper_command: float) -> list[Waypoint]:
        """The expert's remaining waypoints from the CURRENT sim state (arm, gripper, objects),
        wherever a policy has brought it: what DAgger labels rollouts with. `gripper_command` is
        the command in force (0 open .. 1 closed). Tasks without one raise NotImplementedError."""
        raise NotImplementedError(f"task {self.name} has no state-feedback expert (replan)")


# ---------------------------------------------------------------------------- pick
class PickTask(Task):
    """'pick up the <colour> <object>': lift it 8 cm above the table."""
    skill = "pick"
    shape = "box"
    noun = "cube"
    n_objects = 2

    def __init__(self):
        self.name = f"pick_{self.noun}"

    def size(self):
        return [CUBE_HALF] * 3 if self.shape == "box" else [0.02, 0.03]

    def half_height(self):
        return self.size()[2] if self.shape == "box" else self.size()[1]

    def build_objects(self, spec, setting):
        for i in range(self.n_objects):
            add_free_object(spec, f"obj{i}", self.shape, self.size())

    def layout(self, world, rng, setting):
        names = list(COLORS)
        picked = rng.choice(len(names), size=self.n_objects, replace=False)
        self.colors = [names[i] for i in picked]
        self.used_colors = set(self.colors)
        spots = sample_positions(rng, self.n_objects, self.workspace_x, self.workspace_y, 0.12)
        self.yaws = rng.uniform(-np.pi / 4, np.pi / 4, size=self.n_objects)
        for i, p in enumerate(spots):
            set_free_pose(world, f"obj{i}", [p[0], p[1], self.half_height() + 1e-4], self.yaws[i])
            set_rgb(world, f"obj{i}", COLORS[self.colors[i]])
        self.occupied = spots
        self.target = "obj0"
        return f"pick up the {self.colors[0]} {self.noun}"

    def exchange_target(self, world, other: str) -> str:
        """Swap the named object (obj0) with `other` (obj1, ... or a distractor) in place and colour:
        each takes the other's xy, heading and colour and keeps its own rest height, so the picture
        is the laid-out one (exactly, for another object of obj0's shape) while the instruction
        names the other object's colour and the named object stands where `other` stood. Of one
        layout this gives two episodes that differ only in the instruction and the object to lift:
        a pair only the colour word and the hues tell apart. Returns the new instruction.
        ValueError for an unknown `other`."""
        colours = object_colours(self)
        if other not in colours or other == "obj0":
            raise ValueError(f"no other coloured object {other!r}; known: {sorted(set(colours) - {'obj0'})}")
        pose = {}   # (position, heading about z) of each, settled
        for body in ("obj0", other):
            w, _, _, z = world.data.body(body).xquat
            pose[body] = (free_pos(world, body), float(2.0 * np.arctan2(z, w)))
        m = world.model
        box = m.geom_type[m.body_geomadr[m.body(other).id]] == mujoco.mjtGeom.mjGEOM_BOX
        for body, frm in (("obj0", other), (other, "obj0")):
            (x, y, _), yaw = pose[frm]
            if body == "obj0" and not box:
                yaw = pose["obj0"][1]          # a cylinder's heading shows nothing: keep obj0's own
            set_free_pose(world, body, [x, y, pose[body][0][2]], yaw)
            set_rgb(world, body, COLORS[colours[frm]])
        if box:   # the expert grasps at its heading folded into +-45 deg (a cube is 4-fold symmetric)
            self.yaws[0] = (pose[other][1] + np.pi / 4) % (np.pi / 2) - np.pi / 4
        if other.startswith("obj"):
            i = int(other[3:])
            self.yaws[i] = pose["obj0"][1]
            self.colors[0], self.colors[i] = self.colors[i], self.colors[0]
        else:
            i = int(other[len("distractor"):])
            self.colors[0], self.distractor_colors[i] = self.distractor_colors[i], self.colors[0]
        self.used_colors = set(self.colors)
        mujoco.mj_forward(world.model, world.data)
        world.instruction = f"pick up the {self.colors[0]} {self.noun}"
        return world.instruction

    def success(self, world):
        return bool(free_pos(world, self.target)[2] > self.half_height() + 0.08 and world.gripper_position() > 0.2)

    def expert(self, world):
        p = free_pos(world, self.target)
        yaw = float(self.yaws[0]) if self.shape == "box" else 0.0
        grasp = p + [0.0, 0.0, 0.0]
        grasp[2] = max(p[2] - 0.005, 0.012)
        above = grasp + [0.0, 0.0, 0.12]
        return [Waypoint(above, yaw, 0.0), Waypoint(grasp, yaw, 0.0, 0.1), Waypoint(grasp, yaw, 1.0, 0.6),
                Waypoint(grasp + [0.0, 0.0, 0.16], yaw, 1.0, 0.3)]


    def object_yaw(self, world) -> float:
        """Grasp yaw of the target now: its heading folded into the expert's +-45 deg (a cube is
        4-fold symmetric; a cylinder is grasped at yaw 0)."""
        if self.shape != "box":
            return 0.0
        w, _, _, z = world.data.body(self.target).xquat
        yaw = 2.0 * np.arctan2(z, w)
        return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)

    def replan(self, world, gripper_command: float) -> list[Waypoint]:
        p = free_pos(world, self.target)
        yaw = self.object_yaw(world)
        tcp, _ = world.ee_pose()
        g = world.gripper_position()
        grasp = np.array([p[0], p[1], max(p[2] - 0.005, 0.012)])
        rest_grasp_z = max(self.half_height() - 0.005, 0.012)
        lift = np.array([p[0], p[1], rest_grasp_z + 0.16])
        above = grasp + [0.0, 0.0, 0.12]
        in_hand = (np.linalg.norm(tcp[:2] - p[:2]) < 0.02 and abs(tcp[2] - p[2]) < 0.025)
        approach = [Waypoint(above, yaw, 0.0), Waypoint(grasp, yaw, 0.0, 0.1), Waypoint(grasp, yaw, 1.0, 0.6),
                    Waypoint(lift, yaw, 1.0, 0.3)]
        if gripper_command > 0.5 or g > 0.1:          # closed or closing
            if in_hand and g < 0.9:                    # on the object: finish closing, then lift
                closing = abs(world.gripper_velocity()) > 0.05 or g < 0.3
                return ([Waypoint(tcp.copy(), yaw, 1.0, 0.3)] if closing else []) + [Waypoint(lift, yaw, 1.0, 0.3)]
            # closed on nothing (or on the wrong thing): open where it is, rise, approach again
            up = np.array([tcp[0], tcp[1], max(tcp[2], above[2])])
            return [Waypoint(tcp.copy(), yaw, 0.0, 0.4), Waypoint(up, yaw, 0.0)] + approach
        if np.linalg.norm(tcp[:2] - grasp[:2]) < 0.01 and tcp[2] < grasp[2] + 0.01:
            return approach[2:]                        # at the grasp pose: close, lift
        if np.linalg.norm(tcp[:2] - grasp[:2]) < 0.015 and tcp[2] < above[2] + 0.02:
            return approach[1:]                        # above it, on the way down: descend
        if tcp[2] < grasp[2] + 0.05:                   # low and off target: rise first, never sweep
            return [Waypoint(np.array([tcp[0], tcp[1], above[2]]), yaw, 0.0)] + approach
        return approach


class PickCylinderTask(PickTask):
    """'pick up the <colour> cylinder': the pick task with cylinders instead of cubes."""
    shape = "cylinder"
    noun = "cylinder"


def plate_top(world, name: str) -> np.ndarray:
    """World position (m) of the centre of plate `name`'s top face."""
    return world.data.body(name).xpos + [0.0, 0.0, PLATE_HALF_HEIGHT]


PLATE_RADIUS, PLATE_HALF_HEIGHT = 0.06, 0.004


def add_plate(spec, name: str) -> None:
    """Add the thin cylindrical plate `name` (radius PLATE_RADIUS, m), standing on the table, to `spec`."""
    body = spec.worldbody.add_body(name=name, pos=[0.0, 0.0, PLATE_HALF_HEIGHT])
    body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[PLATE_RADIUS, PLATE_HALF_HEIGHT],
                  contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT)


def pick_and_place_waypoints(obj_pos, yaw: float, place_pos, release_height: float,
                             pre_close: float = 0.0, carry_speed: float | None = None) -> list[Waypoint]:
    """Grasp at the object's centre (fingers along the object's yaw), carry above `place_pos`,
    lower until the object's centre is `release_height` above it, open, retreat."""
    grasp = np.array(obj_pos, dtype=float)
    grasp[2] = max(grasp[2] - 0.005, 0.012)
    place = np.array(place_pos, dtype=float) + [0.0, 0.0, release_height]
    up = [0.0, 0.0, 0.12]
    return [Waypoint(grasp + up, yaw, pre_close), Waypoint(grasp, yaw, pre_close, 0.1),
            Waypoint(grasp, yaw, 1.0, 0.6), Waypoint(grasp + [0.0, 0.0, 0.14], yaw, 1.0, speed=carry_speed),
            Waypoint(place + [0.0, 0.0, 0.10], yaw, 1.0, speed=carry_speed), Waypoint(place, yaw, 1.0, 0.1),
            Waypoint(place, yaw, 0.0, 0.5), Waypoint(place + [0.0, 0.0, 0.10], yaw, 0.0)]


# ---------------------------------------------------------------------------- place
class PlaceOnPlateTask(PickTask):
    """'put the <colour> cube on the <colour> plate'."""
    skill = "place"
    name = "place_cube_on_plate"

    def __init__(self):
        pass

    def build_objects(self, spec, setting):
        super().build_objects(spec, setting)
        add_plate(spec, "plate")

    def layout(self, world, rng, setting):
        names = list(COLORS)
        picked = rng.choice(len(names), size=self.n_objects + 1, replace=False)
        self.colors = [names[i] for i in picked]
        self.used_colors = set(self.colors)
        spots = sample_positions(rng, self.n_objects + 1, self.workspace_x, self.workspace_y, 0.14)
        self.yaws = rng.uniform(-np.pi / 4, np.pi / 4, size=self.n_objects)
        for i in range(self.n_objects):
            set_free_pose(world, f"obj{i}", [*spots[i], CUBE_HALF + 1e-4], self.yaws[i])
            set_rgb(world, f"obj{i}", COLORS[self.colors[i]])
        world.model.body_pos[world.model.body("plate").id, :2] = spots[-1]
        set_rgb(world, "plate", COLORS[self.colors[-1]])
        self.occupied = spots
        self.target = "obj0"
        return f"put the {self.colors[0]} cube on the {self.colors[-1]} plate"

    def success(self, world):
        obj, top = free_pos(world, self.target), plate_top(world, "plate")
        return bool(np.linalg.norm(obj[:2] - top[:2]) < PLATE_RADIUS - 0.01
                    and abs(obj[2] - top[2] - CUBE_HALF) < 0.01 and world.gripper_position() < 0.3)

    def expert(self, world):
        return pick_and_place_waypoints(free_pos(world, self.target), float(self.yaws[0]),
                                        plate_top(world, "plate"), CUBE_HALF + 0.012)


class StackTask(PickTask):
    """'stack the <colour> cube on the <colour> cube'."""
    skill = "place"
    name = "stack_cubes"

    def __init__(self):
        pass

    def layout(self, world, rng, setting):
        super().layout(world, rng, setting)
        return f"stack the {self.colors[0]} cube on the {self.colors[1]} cube"

    def success(self, world):
        top, base = free_pos(world, "obj0"), free_pos(world, "obj1")
        return bool(np.linalg.norm(top[:2] - base[:2]) < 0.02 and abs(top[2] - base[2] - 2 * CUBE_HALF) < 0.008
                    and world.gripper_position() < 0.3)

    def expert(self, world):
        base = free_pos(world, "obj1")
        # Turn the carried cube to the lower one's yaw (cubes: modulo 90 deg) for a flush stack.
        return pick_and_place_waypoints(free_pos(world, "obj0"), float(self.yaws[0]), base,
                                        2 * CUBE_HALF + 0.012)[:4] + [
            Waypoint(base + [0, 0, 0.16], float(self.yaws[1]), 1.0),
            Waypoint(base + [0, 0, 2 * CUBE_HALF + 0.008], float(self.yaws[1]), 1.0, 0.1),
            Waypoint(base + [0, 0, 2 * CUBE_HALF + 0.008], float(self.yaws[1]), 0.0, 0.5),
            Waypoint(base + [0, 0, 0.14], float(self.yaws[1]), 0.0)]


# ---------------------------------------------------------------------------- drawer
DRAWER_TRAVEL = 0.15


class DrawerTask(Task):
    """'open the drawer' / 'close the drawer': a tray on a rail along x, in a housing."""
    skill = ""
    opening = True

    def __init__(self):
        self.name = "open_drawer" if self.opening else "close_drawer"
        self.skill = "open" if self.opening else "close"

    def build_objects(self, spec, setting):
        cabinet = spec.worldbody.add_body(name="cabinet", pos=[0.62, 0.0, 0.0])
        # Housing behind the tray (collides with the robot only).
        add_static_box(cabinet, "housing", [0.18, 0.0, 0.05], [0.09, 0.13, 0.05], [0.35, 0.3, 0.25, 1])
        drawer = cabinet.add_body(name="drawer", pos=[0.0, 0.0, 0.0])
        spec.add_exclude(bodyname1="cabinet", bodyname2="drawer")
        drawer.add_joint(name="drawer/slide", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[-1, 0, 0],
                         range=[0.0, DRAWER_TRAVEL], damping=[8.0, 0.0, 0.0], armature=0.05)
        walls = [("bottom", [0, 0, 0.008], [0.08, 0.11, 0.004]), ("front", [-0.075, 0, 0.035], [0.006, 0.11, 0.03]),
                 ("back", [0.075, 0, 0.035], [0.006, 0.11, 0.03]), ("left", [0, 0.105, 0.035], [0.08, 0.006, 0.03]),
                 ("right", [0, -0.105, 0.035], [0.08, 0.006, 0.03])]
        for wall, pos, size in walls:
            drawer.add_geom(name=f"drawer/{wall}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=pos, size=size, mass=0.2,
                            rgba=[0.8, 0.7, 0.5, 1], contype=PART_BIT, conaffinity=ROBOT_BIT | SCENE_BIT)

    def layout(self, world, rng, setting):
        m = world.model
        x, y = rng.uniform(0.58, 0.66), rng.uniform(-0.12, 0.12)
        m.body_pos[m.body("cabinet").id, :2] = [x, y]
        self.color = COLORS[list(COLORS)[rng.integers(len(COLORS))]]
        for wall in ("bottom", "front", "back", "left", "right"):
            set_rgb(world, f"drawer/{wall}", self.color)
        start = 0.0 if self.opening else rng.uniform(0.10, DRAWER_TRAVEL)
        world.data.qpos[m.jnt_qposadr[m.joint("drawer/slide").id]] = start
        self.occupied = [np.array([x + dx, y + dy]) for dx in (-0.2, -0.1, 0.0, 0.1) for dy in (-0.1, 0.0, 0.1)]
        return "open the drawer" if self.opening else "close the drawer"

    def opened(self, world) -> float:
        m = world.model
        return float(world.data.qpos[m.jnt_qposadr[m.joint("drawer/slide").id]])

    def success(self, world):
        return self.opened(world) > 0.10 if self.opening else self.opened(world) < 0.02

    def expert(self, world):
        front = world.data.geom("drawer/front").xpos.copy()
        yaw = np.pi / 2  # fingers open along x: the closed fingers form a blade along y
        if self.opening:  # hook the closed fingers behind the front wall and pull
            inside = front + [0.035, 0.0, 0.0]
            inside[2] = 0.035
            return [Waypoint(inside + [0, 0, 0.12], yaw, 1.0), Waypoint(inside, yaw, 1.0, 0.1),
                    Waypoint(inside - [0.13, 0.0, 0.0], yaw, 1.0, 0.2), Waypoint(inside - [0.13, 0, -0.12], yaw, 1.0)]
        outside = front - [0.035, 0.0, 0.0]  # push the front wall back in
        outside[2] = 0.04
        end = outside.copy()
        end[0] = world.data.body("cabinet").xpos[0] - 0.075 - 0.035 + 0.005
        return [Waypoint(outside + [0, 0, 0.12], yaw, 1.0), Waypoint(outside, yaw, 1.0, 0.1),
                Waypoint(end, yaw, 1.0, 0.2), Waypoint(end + [-0.03, 0, 0.12], yaw, 1.0)]


class CloseDrawerTask(DrawerTask):
    """'close the drawer': the drawer starts partly open and must end less than 2 cm out."""
    opening = False


# ---------------------------------------------------------------------------- button
BUTTON_TRAVEL = 0.012


class PressButtonTask(Task):
    """'press the <colour> button': two spring-loaded buttons, the named one must go down."""
    name = "press_button"
    skill = "press"

    def build_objects(self, spec, setting):
        for i in range(2):
            base = spec.worldbody.add_body(name=f"button{i}_base", pos=[0.5, 0.0, 0.0])
            add_static_box(base, f"button{i}_housing", [0, 0, 0.015], [0.04, 0.04, 0.015], [0.2, 0.2, 0.22, 1])
            cap = base.add_body(name=f"button{i}", pos=[0.0, 0.0, 0.03])
            cap.add_joint(name=f"button{i}/press", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, -1],
                          range=[0.0, BUTTON_TRAVEL], stiffness=[300.0, 0.0, 0.0], damping=[3.0, 0.0, 0.0])
            cap.add_geom(name=f"button{i}", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.025, 0.008],
                         pos=[0, 0, 0.008], mass=0.02, contype=PART_BIT, conaffinity=ROBOT_BIT | SCENE_BIT)
            # The cap sinks into its housing (a static parent gets no automatic parent-child filter).
            spec.add_exclude(bodyname1=f"button{i}_base", bodyname2=f"button{i}")

    def layout(self, world, rng, setting):
        m = world.model
        names = list(COLORS)
        picked = rng.choice(len(names), size=2, replace=False)
        self.colors = [names[i] for i in picked]
        self.used_colors = set(self.colors)
        spots = sample_positions(rng, 2, self.workspace_x, self.workspace_y, 0.15)
        for i, p in enumerate(spots):
            m.body_pos[m.body(f"button{i}_base").id, :2] = p
            set_rgb(world, f"button{i}", COLORS[self.colors[i]])
        self.occupied = spots
        self.pressed = False
        return f"press the {self.colors[0]} button"

    def depth(self, world, i: int = 0) -> float:
        m = world.model
        return float(world.data.qpos[m.jnt_qposadr[m.joint(f"button{i}/press").id]])

    def update(self, world) -> None:
        """Latch the press (it is an event; the spring pushes the cap back up)."""
        if self.depth(world, 0) > 0.7 * BUTTON_TRAVEL and self.depth(world, 1) < 0.3 * BUTTON_TRAVEL:
            self.pressed = True

    def success(self, world):
        self.update(world)
        return self.pressed

    def expert(self, world):
        top = world.data.geom("button0").xpos + [0.0, 0.0, 0.008]
        # The closed fingertips reach only a little below the TCP (the pinch point between the pads).
        press = top + [0.0, 0.0, -0.010]
        return [Waypoint(top + [0, 0, 0.12], 0.0, 1.0), Waypoint(top + [0, 0, 0.03], 0.0, 1.0),
                Waypoint(press, 0.0, 1.0, 0.3), Waypoint(top + [0, 0, 0.12], 0.0, 1.0)]


# ---------------------------------------------------------------------------- bin picking
BASKET_INNER, BASKET_WALL_H = 0.11, 0.05  # half-width of the inside (m), wall height (m)
BIN_CUBE_HALF = 0.017


class BinPickingTask(Task):
    """The paper's bin picking: 'move any object from the right basket to the left basket'
    with 5-9 objects (10-18 in `cluttered`)."""
    name = "bin_picking"
    skill = "pick_place"
    n_distractors = 0  # the baskets fill the workspace; `cluttered` doubles the objects instead
    baskets = {"left": np.array([0.48, 0.2]), "right": np.array([0.48, -0.2])}

    def max_objects(self, setting):
        return 18 if setting == "cluttered" else 9

    def build_objects(self, spec, setting):
        for side in self.baskets:
            body = spec.worldbody.add_body(name=f"basket_{side}", pos=[*self.baskets[side], 0.0])
            t, h, a = 0.006, BASKET_WALL_H / 2, BASKET_INNER
            walls = [("bottom", [0, 0, t / 2], [a + t, a + t, t / 2]),
                     ("px", [a + t / 2, 0, h], [t / 2, a + t, h]), ("nx", [-a - t / 2, 0, h], [t / 2, a + t, h]),
                     ("py", [0, a + t / 2, h], [a, t / 2, h]), ("ny", [0, -a - t / 2, h], [a, t / 2, h])]
            for wall, pos, size in walls:
                add_static_box(body, f"basket_{side}/{wall}", pos, size, [0.45, 0.32, 0.2, 1])
        for i in range(self.max_objects(setting)):
            shape = "box" if i % 3 else "cylinder"
            size = [BIN_CUBE_HALF] * 3 if shape == "box" else [BIN_CUBE_HALF, BIN_CUBE_HALF]
            add_free_object(spec, f"obj{i}", shape, size, mass=0.03)

    def layout(self, world, rng, setting):
        total = self.max_objects(setting)
        n = int(rng.integers(5, 10)) * (2 if setting == "cluttered" else 1)
        centre = self.baskets["right"]
        cells = [(dx, dy) for dx in (-0.06, 0.0, 0.06) for dy in (-0.06, 0.0, 0.06)]
        order = rng.permutation(len(cells))
        self.objects, self.yaws = [], {}
        for k in range(total):
            name = f"obj{k}"
            if k >= n:  # unused objects wait under the floor, out of sight
                set_free_pose(world, name, [2.0 + 0.1 * k, 2.0, -0.5])
                continue
            layer, cell = divmod(k, len(cells))
            dx, dy = cells[order[cell]]
            jitter = rng.uniform(-0.008, 0.008, size=2)
            z = 0.006 + BIN_CUBE_HALF + layer * (2 * BIN_CUBE_HALF + 0.002) + 1e-3
            yaw = rng.uniform(-0.3, 0.3)
            set_free_pose(world, name, [centre[0] + dx + jitter[0], centre[1] + dy + jitter[1], z], yaw)
            set_rgb(world, name, COLORS[list(COLORS)[rng.integers(len(COLORS))]])
            self.objects.append(name)
            self.yaws[name] = yaw
        self.occupied = [self.baskets["left"], self.baskets["right"]]
        return "move any object from the right basket to the left basket"

    def in_basket(self, pos, side: str) -> bool:
        """Inside the basket's walls, resting (two layers of objects fit below this height)."""
        c = self.baskets[side]
        return bool(np.all(np.abs(pos[:2] - c) < BASKET_INNER) and pos[2] < BASKET_WALL_H + 0.03)

    def success(self, world):
        released = world.gripper_position() < 0.3
        return released and any(self.in_basket(free_pos(world, o), "left") for o in self.objects)

    def expert(self, world):
        # An object of the top layer, the one with the most room around it for the fingers.
        inside = [o for o in self.objects if self.in_basket(free_pos(world, o), "right")]
        upright = [o for o in inside if np.abs(world.data.body(o).xmat.reshape(3, 3)[2]).max() > 0.97]
        inside = upright or inside  # tilted objects (leaning on others) are hard to grasp from above
        top = max(free_pos(world, o)[2] for o in inside)
        candidates = [o for o in inside if free_pos(world, o)[2] > top - BIN_CUBE_HALF]

        def clearance(o):
            p = free_pos(world, o)
            return min((np.linalg.norm(free_pos(world, q)[:2] - p[:2]) for q in self.objects if q != o),
                       default=1.0)
        target = max(candidates, key=clearance)
        yaw = self.grasp_yaw(world, target)
        p = free_pos(world, target)
        drop = np.array([*self.baskets["left"], 0.006])
        # Small objects in a light grip: carried slowly so they do not slip out (18/20 -> 20/20 at 0.3 m/s).
        return pick_and_place_waypoints(p, yaw, drop, 0.06, pre_close=0.45, carry_speed=0.15)

    def grasp_yaw(self, world, target: str) -> float:
        """Of the two finger directions that fit the object (its yaw, or turned 90 deg), the one
        whose fingers land farther from the neighbours."""
        p = free_pos(world, target)[:2]
        rot = world.data.body(target).xmat.reshape(3, 3)
        axis = rot[:, 0] if abs(rot[2, 0]) < 0.5 else rot[:, 1]  # a horizontal edge direction, as settled
        current = float(np.arctan2(axis[1], axis[0]))
        best, best_room = current, -1.0
        for yaw in (current, current + np.pi / 2):
            along = np.array([-np.sin(yaw), np.cos(yaw)])  # finger opening direction (tcp_rotation x)
            across = np.array([-along[1], along[0]])
            room = 1.0
            for q in self.objects:
                if q != target:
                    d = free_pos(world, q)[:2] - p
                    if abs(d @ across) < 0.035:  # a neighbour in the fingers' path
                        room = min(room, abs(d @ along))
            if room > best_room:
                best, best_room = yaw, room
        return float((best + np.pi / 2) % np.pi - np.pi / 2)  # fingers are symmetric: least wrist turn


# ---------------------------------------------------------------------------- shared geometry
def add_ring(body, name: str, n: int, inner_radius: float, thickness: float, z: float, half_height: float,
             mass: float = 0.0, static: bool = False) -> None:
    """A vertical wall around `body`'s z axis made of `n` boxes (inner radius and thickness in m,
    centred at height `z`, `half_height` m): MuJoCo has no hollow cylinder, and a mesh would
    collide as its convex hull (a solid). Boxes are wide enough to touch at the inner face."""
    half_w = inner_radius * np.tan(np.pi / n) + 1e-4
    r = inner_radius + thickness / 2
    for k in range(n):
        a = 2 * np.pi * k / n
        kwargs = {} if static else {"mass": mass / n}
        body.add_geom(name=f"{name}{k}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[thickness / 2, half_w, half_height],
                      pos=[r * np.cos(a), r * np.sin(a), z], quat=[np.cos(a / 2), 0.0, 0.0, np.sin(a / 2)],
                      friction=[1.0, 0.01, 0.001], contype=SCENE_BIT, condim=4,
                      conaffinity=(SCENE_BIT | ROBOT_BIT) if static else (SCENE_BIT | ROBOT_BIT | PART_BIT), **kwargs)


def set_body_rgb(world, body: str, rgb) -> None:
    """Colour (RGB, 0..1) every geom of `body`."""
    m = world.model
    b = m.body(body).id
    adr, num = m.body_geomadr[b], m.body_geomnum[b]
    m.geom_rgba[adr:adr + num, :3] = rgb


def upright(world, body: str, min_cos: float = 0.95) -> bool:
    """Whether `body`'s z axis is within acos(min_cos) of the world's vertical."""
    return bool(world.data.body(body).xmat[8] > min_cos)


# ---------------------------------------------------------------------------- cap / uncap
# A jar (solid cylinder) and a lid: a disc with a skirt that hangs around the jar's top, so a
# lid set down within the skirt's play slides onto the jar and stays centred. Capping is placing
# the lid, uncapping lifting it off: there is no thread.
JAR_RADIUS, JAR_HALF_HEIGHT = 0.025, 0.04
LID_RADIUS, LID_DISC_HALF = 0.034, 0.005         # disc (m); the skirt below it is 4 mm thick
LID_SKIRT_HEIGHT = 0.010
LID_SKIRT_INNER = 0.0295                         # 4.5 mm radial play around the jar
LID_REST_Z = LID_DISC_HALF + LID_SKIRT_HEIGHT    # lid origin (disc centre) above the table it stands on, m
LID_SEATED_Z = LID_DISC_HALF                     # ... above the jar's top it is seated on (skirt around the jar)


def add_jar(spec, i: int) -> None:
    """Free jar `jar{i}` (heavy, 0.3 kg, so lifting the lid does not drag it) and its lid `lid{i}`."""
    add_free_object(spec, f"jar{i}", "cylinder", [JAR_RADIUS, JAR_HALF_HEIGHT], mass=0.3)
    lid = spec.worldbody.add_body(name=f"lid{i}", pos=[0.0, 0.0, -1.0])
    lid.add_freejoint(name=f"lid{i}/free")
    lid.add_geom(name=f"lid{i}", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[LID_RADIUS, LID_DISC_HALF], mass=0.02,
                 friction=[1.0, 0.01, 0.001], contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT | PART_BIT,
                 condim=4)
    add_ring(lid, f"lid{i}/skirt", 12, LID_SKIRT_INNER, LID_RADIUS - LID_SKIRT_INNER,
             -LID_DISC_HALF - LID_SKIRT_HEIGHT / 2, LID_SKIRT_HEIGHT / 2, mass=0.01)


class JarTask(Task):
    """'take the lid off the <colour> jar' / 'put the lid on the <colour> jar'. In `distractor` and
    `cluttered` a second, capped jar of another colour stands beside the named one."""
    capping = False

    def __init__(self):
        self.name = "cap_jar" if self.capping else "uncap_jar"
        self.skill = "cap" if self.capping else "uncap"

    def n_jars(self, setting: str) -> int:
        return 2 if setting in ("distractor", "cluttered") else 1

    def build_objects(self, spec, setting):
        for i in range(self.n_jars(setting)):
            add_jar(spec, i)

    def layout(self, world, rng, setting):
        n = self.n_jars(setting)
        names = list(COLORS)
        picked = rng.choice(len(names), size=n, replace=False)
        self.colors = [names[i] for i in picked]
        self.used_colors = set(self.colors)
        spots = sample_positions(rng, n, self.workspace_x, self.workspace_y, 0.13)
        self.jars, self.spot = spots, self.beside(rng, spots)
        for i, p in enumerate(self.jars):
            set_free_pose(world, f"jar{i}", [p[0], p[1], JAR_HALF_HEIGHT + 1e-4])
            set_body_rgb(world, f"jar{i}", COLORS[self.colors[i]])
            set_body_rgb(world, f"lid{i}", COLORS[self.colors[i]])
            on_jar = not (self.capping and i == 0)
            lid = ([p[0], p[1], 2 * JAR_HALF_HEIGHT + LID_SEATED_Z + 5e-4] if on_jar
                   else [self.spot[0], self.spot[1], LID_REST_Z + 5e-4])
            set_free_pose(world, f"lid{i}", lid, rng.uniform(-np.pi, np.pi))
        self.occupied = [*spots, self.spot]   # distractors keep clear of the lid's spot too
        colour = self.colors[0]
        return f"put the lid on the {colour} jar" if self.capping else f"take the lid off the {colour} jar"

    def beside(self, rng, jars: list[np.ndarray]) -> np.ndarray:
        """A spot 11-16 cm from jar0 (x, y in m), inside the workspace and 11 cm from the other
        jars: where the lid starts (capping) or is put down (uncapping)."""
        lo = np.array([self.workspace_x[0], self.workspace_y[0]])
        hi = np.array([self.workspace_x[1], self.workspace_y[1]])
        for _ in range(1000):
            a, r = rng.uniform(-np.pi, np.pi), rng.uniform(0.11, 0.16)
            p = jars[0] + r * np.array([np.cos(a), np.sin(a)])
            if np.all(p >= lo) and np.all(p <= hi) and all(np.linalg.norm(p - q) >= 0.11 for q in jars[1:]):
                return p
        raise RuntimeError("no room for the lid beside the jar")

    def lid_on_jar(self, world, i: int = 0) -> bool:
        """Lid i seated on jar i: centred within the skirt's play, at the rim's height, level."""
        lid, jar = free_pos(world, f"lid{i}"), free_pos(world, f"jar{i}")
        return bool(np.linalg.norm(lid[:2] - jar[:2]) < LID_SKIRT_INNER - JAR_RADIUS + 0.002
                    and abs(lid[2] - jar[2] - JAR_HALF_HEIGHT - LID_SEATED_Z) < 0.004 and upright(world, f"lid{i}"))

    def success(self, world):
        released = world.gripper_position() < 0.3
        if not (released and upright(world, "jar0")):
            return False
        if self.capping:
            return self.lid_on_jar(world)
        lid, jar = free_pos(world, "lid0"), free_pos(world, "jar0")
        on_table = abs(lid[2] - LID_REST_Z) < 0.01
        return bool(on_table and np.linalg.norm(lid[:2] - jar[:2]) > JAR_RADIUS + LID_RADIUS)

    def expert(self, world):
        jar = free_pos(world, "jar0")
        top = jar + [0.0, 0.0, JAR_HALF_HEIGHT]
        # The pads pinch the lid's disc; their lower ends then pass outside the jar (lid wider than jar).
        if self.capping:
            lid = free_pos(world, "lid0")
            # Released with the skirt's lower edge 3 mm above the jar's top, so it falls around it.
            return pick_and_place_waypoints(lid, 0.0, top, LID_REST_Z + 0.003)
        table = np.array([*self.spot, 0.0])
        return pick_and_place_waypoints(free_pos(world, "lid0"), 0.0, table, LID_REST_Z + 0.003)


class CapJarTask(JarTask):
    """'put the lid on the <colour> jar': the lid starts on the table beside its jar."""
    capping = True


# ---------------------------------------------------------------------------- pour
CUP_RADIUS, CUP_HALF_HEIGHT, CUP_WALL = 0.030, 0.035, 0.004   # outer radius, m
CUP_FLOOR_HALF = 0.004
# Floors are thick: a falling bead moves ~3 mm per 2 ms step, and one whose centre crosses a thin
# floor's mid-plane is pushed out through the far side.
BEAD_RADIUS = 0.008
N_BEADS = 8
BOWL_INNER, BOWL_WALL, BOWL_HEIGHT = 0.08, 0.006, 0.045
BOWL_FLOOR = 0.012           # m, floor thickness
POUR_TILT = np.deg2rad(120.0)    # rad: past 90 deg the cup's floor slopes towards its mouth
CUP_GRASP_Z = CUP_HALF_HEIGHT    # m, TCP height of the grasp: the pads pinch the cup at mid-height
# Tipped past 90 deg the wrist hangs below the TCP: at 0.15 m its links reach the table at 110 deg;
# at 0.28 m they clear it by about 1 cm at 120 deg.
POUR_HEIGHT = 0.28
POUR_OFFSET = 0.07               # m, TCP short of the bowl's centre: the beads fly on a few cm
CARRY_SPEED, POUR_SPEED = 0.2, 0.03   # m/s: carrying a full cup; edging forward while tipping
POUR_DWELL = 1.0                 # s held fully tipped
# Fraction of the beads that must end in the bowl: a pour that lands most of the contents, with
# a bead or two allowed to bounce off the rim or stay in the cup (see SIM.md for the measured spread).
POUR_SUCCESS_FRACTION = 0.7


def add_cup(spec, i: int) -> None:
    """Free cup `cup{i}` (floor + ring wall, 60 g) holding N_BEADS beads `cup{i}/bead{k}` (3 g each)."""
    cup = spec.worldbody.add_body(name=f"cup{i}", pos=[0.0, 0.0, -1.0])
    cup.add_freejoint(name=f"cup{i}/free")
    cup.add_geom(name=f"cup{i}/floor", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[CUP_RADIUS, CUP_FLOOR_HALF],
                 pos=[0.0, 0.0, -CUP_HALF_HEIGHT + CUP_FLOOR_HALF], mass=0.02, friction=[1.0, 0.01, 0.001],
                 contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT | PART_BIT, condim=4)
    add_ring(cup, f"cup{i}/wall", 16, CUP_RADIUS - CUP_WALL, CUP_WALL, 0.0, CUP_HALF_HEIGHT, mass=0.04)
    for k in range(N_BEADS):
        bead = spec.worldbody.add_body(name=f"cup{i}/bead{k}", pos=[0.0, 0.0, -1.0])
        bead.add_freejoint(name=f"cup{i}/bead{k}/free")
        # Smooth beads (sliding friction 0.3, used in all their contacts by `priority`): rubbery
        # beads (1.0) jam against each other and the wall and stay in a cup tipped 120 deg. A little
        # rolling friction lets a bead on the bowl's floor come to rest. Stiff contacts (time
        # constant 2 steps, as the gripper pads'): with the default 20 ms a bead falling 20 cm
        # sinks more than its radius into the floor and is pushed through it.
        bead.add_geom(name=f"cup{i}/bead{k}", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[BEAD_RADIUS], mass=0.003,
                      friction=[0.3, 0.005, 0.0001], condim=6, priority=1, solref=[0.004, 1.0],
                      rgba=[0.95, 0.93, 0.85, 1.0],
                      contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT | PART_BIT)


def add_bowl(spec) -> None:
    """Static bowl `bowl`: a floor and a ring wall BOWL_HEIGHT high, inner radius BOWL_INNER (m)."""
    bowl = spec.worldbody.add_body(name="bowl", pos=[0.5, 0.0, 0.0])
    bowl.add_geom(name="bowl/floor", type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                  size=[BOWL_INNER + BOWL_WALL, BOWL_FLOOR / 2], pos=[0.0, 0.0, BOWL_FLOOR / 2],
                  contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT)
    add_ring(bowl, "bowl/wall", 24, BOWL_INNER, BOWL_WALL, BOWL_HEIGHT / 2, BOWL_HEIGHT / 2, static=True)


class PourTask(Task):
    """'pour the <colour> cup into the bowl': a cup of beads and a bowl. In `distractor` and
    `cluttered` a second full cup of another colour stands on the table too."""
    name = "pour_cup"
    skill = "pour"

    def n_cups(self, setting: str) -> int:
        return 2 if setting in ("distractor", "cluttered") else 1

    def build_objects(self, spec, setting):
        add_bowl(spec)
        for i in range(self.n_cups(setting)):
            add_cup(spec, i)

    def layout(self, world, rng, setting):
        n = self.n_cups(setting)
        names = list(COLORS)
        picked = rng.choice(len(names), size=n + 1, replace=False)
        self.colors = [names[i] for i in picked]
        self.used_colors = set(self.colors)
        m = world.model
        bowl = np.array([rng.uniform(0.42, 0.56), rng.uniform(-0.15, 0.15)])
        m.body_pos[m.body("bowl").id, :2] = bowl
        set_body_rgb(world, "bowl", COLORS[self.colors[-1]])
        # 13 cm apart and from the bowl's centre: clear of its wall (8.6 cm) with a cup's radius to spare.
        cups = sample_positions(rng, n, self.workspace_x, self.workspace_y, 0.13, avoid=[bowl])
        for i, p in enumerate(cups):
            set_free_pose(world, f"cup{i}", [p[0], p[1], CUP_HALF_HEIGHT + 1e-4], rng.uniform(-np.pi, np.pi))
            set_body_rgb(world, f"cup{i}", COLORS[self.colors[i]])
            floor = 2 * CUP_FLOOR_HALF + BEAD_RADIUS + 1e-3
            for k in range(N_BEADS):     # two layers of four, in the cup's middle
                layer, j = divmod(k, 4)
                a = np.pi / 2 * j + np.pi / 4 * layer
                set_free_pose(world, f"cup{i}/bead{k}", [p[0] + 0.012 * np.cos(a), p[1] + 0.012 * np.sin(a),
                                                           floor + layer * (2 * BEAD_RADIUS + 1e-3)])
        # Points around the bowl's rim too, so that distractors (kept 8 cm from these) land outside it.
        rim = [bowl + 0.06 * np.array([np.cos(a), np.sin(a)]) for a in np.arange(6) * np.pi / 3]
        self.occupied = [bowl, *rim, *cups]
        return f"pour the {self.colors[0]} cup into the bowl"

    def beads_in_bowl(self, world, i: int = 0) -> int:
        """Beads of cup i inside the bowl's wall, below its rim."""
        c = world.data.body("bowl").xpos
        return sum(1 for k in range(N_BEADS) if
                   np.linalg.norm(free_pos(world, f"cup{i}/bead{k}")[:2] - c[:2]) < BOWL_INNER
                   and free_pos(world, f"cup{i}/bead{k}")[2] < BOWL_HEIGHT + 0.01)

    def success(self, world):
        cup = free_pos(world, "cup0")
        outside = np.linalg.norm(cup[:2] - world.data.body("bowl").xpos[:2]) > BOWL_INNER + BOWL_WALL
        return bool(self.beads_in_bowl(world) >= POUR_SUCCESS_FRACTION * N_BEADS and outside
                    and upright(world, "cup0", 0.9))

    def expert(self, world):
        cup = free_pos(world, "cup0")
        bowl = world.data.body("bowl").xpos.copy()
        # Fingers open along x (yaw 90 deg), so the cup tips about x and pours along y, towards the
        # robot's centre line: tilting outwards there runs the wrist into its joint limits.
        yaw = np.pi / 2
        side = 1.0 if bowl[1] <= 0.0 else -1.0            # +1: the mouth tips towards +y
        grasp = np.array([cup[0], cup[1], CUP_GRASP_Z])
        pour = bowl - [0.0, side * POUR_OFFSET, 0.0]
        pour[2] = POUR_HEIGHT
        above = pour + [0.0, 0.0, 0.05]
        tipping = side * np.deg2rad(70.0)   # the beads start to roll out beyond this
        tilt = side * POUR_TILT
        # Tip to the brim quickly, then pour slowly while edging 2 cm towards the bowl (a slow
        # segment: the expert turns tilt at the speed that lets the TCP cover the segment).
        poured = pour + [0.0, side * 0.02, 0.0]
        return [Waypoint(grasp + [0, 0, 0.12], yaw, 0.0), Waypoint(grasp, yaw, 0.0, 0.1),
                Waypoint(grasp, yaw, 1.0, 0.6), Waypoint(grasp + [0, 0, 0.15], yaw, 1.0, speed=CARRY_SPEED),
                Waypoint(above, yaw, 1.0, speed=CARRY_SPEED), Waypoint(pour, yaw, 1.0, speed=CARRY_SPEED),
                Waypoint(pour, yaw, 1.0, tilt=tipping),
                Waypoint(poured, yaw, 1.0, POUR_DWELL, speed=POUR_SPEED, tilt=tilt),
                Waypoint(above, yaw, 1.0, tilt=0.0),
                Waypoint(grasp + [0, 0, 0.15], yaw, 1.0, speed=CARRY_SPEED),
                Waypoint(grasp + [0, 0, 0.01], yaw, 1.0, speed=CARRY_SPEED),
                Waypoint(grasp + [0, 0, 0.01], yaw, 0.0, 0.5), Waypoint(grasp + [0, 0, 0.12], yaw, 0.0)]

TASKS: dict[str, type[Task]] = {
    "pick_cube": PickTask,
    "pick_cylinder": PickCylinderTask,
    "place_cube_on_plate": PlaceOnPlateTask,
    "stack_cubes": StackTask,
    "open_drawer": DrawerTask,
    "close_drawer": CloseDrawerTask,
    "press_button": PressButtonTask,
    "bin_picking": BinPickingTask,
    "uncap_jar": JarTask,
    "cap_jar": CapJarTask,
    "pour_cup": PourTask,
}


def make_task(name: str) -> Task:
    """A new instance of the task called `name` (a key of TASKS); KeyError for an unknown name."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {sorted(TASKS)}")
    return TASKS[name]()
