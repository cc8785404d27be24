"""MuJoCo simulation of the GR-2 robot cell (ROS-free): world, tasks, scripted expert, dataset."""
