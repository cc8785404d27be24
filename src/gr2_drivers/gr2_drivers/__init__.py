"""Driver nodes of the GR-2 robot: Kinova Gen3 (kortex_api), Robotiq 2F-85, Intel RealSense, and
the MuJoCo simulation of the same robot with the same interfaces."""
