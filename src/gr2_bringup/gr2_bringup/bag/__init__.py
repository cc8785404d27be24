"""rosbag2 recording, inspection, replay and dataset conversion without a ROS install.

The cores (types, writer, reader, playback, dataset) import no rclpy and use the `rosbags`
registry library to write and read standard rosbag2 directories (metadata.yaml + one MCAP
file, CDR payloads, message definitions and RIHS01 type hashes), the format `ros2 bag
record -s mcap` produces, so `ros2 bag info/play` on a real Jazzy host accept them.
recorder_node and player_node are the thin rclpy adapters; cli is `gr2-bag`.
"""
