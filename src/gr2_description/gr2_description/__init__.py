"""The GR-2 robot as config/robot.yaml describes it (ROS-free), for every package that models it.

`robot`: where the URDF is, its frames, the TCP, home and table; `joint_limits`: the URDF's joint
limits; `gripper_geometry`: the mounted gripper's collision hull (computed by MuJoCo into
config/gripper_collision_hull.yaml, read without it). The
simulator, the controller and the drivers all read the robot from here, so that none of them
depends on another for it.
"""
