"""Bring up the GR-2 stack: `ros2 launch gr2_bringup robot.launch.py [sim:=true] [robot_ip:=...] ...`.

The nodes and their parameter files come from config/graph.yaml through gr2_bringup.graph,
the same description `gr2-up` starts on hosts without `ros2 launch`, so both paths run the
same graph. Arguments: sim, robot_ip, checkpoint, device, rviz, record (see graph.yaml).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from gr2_bringup.graph import load_graph, parse_bool, resolve_graph
from gr2_bringup.up import default_bag_dir, recorder_command
from gr2_contract.config import config_dir


def _graph_actions(context):
    graph = load_graph()
    args = {name: LaunchConfiguration(name).perform(context) for name in graph["arguments"]}
    actions = []
    for spec in resolve_graph(args, graph=graph):
        parameters = [str(path) for path in spec.parameter_files]
        if spec.parameters:
            parameters.append(dict(spec.parameters))
        actions.append(Node(package=spec.package, executable=spec.executable, name=spec.name,
                            parameters=parameters, output="screen", emulate_tty=True))

    if parse_bool("rviz", args["rviz"]):
        rviz_config = config_dir() / "gr2.rviz"
        if not rviz_config.exists():
            raise FileNotFoundError(f"rviz:=true but {rviz_config} does not exist")
        from gr2_wbc.robot_description import load_robot_description
        urdf = load_robot_description().urdf_path.read_text()
        actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher",
                            parameters=[{"robot_description": urdf}], output="screen"))
        actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", str(rviz_config)],
                            output="screen"))

    if parse_bool("record", args["record"]):
        actions.append(ExecuteProcess(cmd=recorder_command(default_bag_dir()), output="screen"))
    return actions


def generate_launch_description():
    graph = load_graph()
    declared = [DeclareLaunchArgument(name, default_value=str(spec["default"]),
                                      description=spec["description"])
                for name, spec in graph["arguments"].items()]
    return LaunchDescription([*declared, OpaqueFunction(function=_graph_actions)])
