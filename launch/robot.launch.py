"""Bring up the GR-2 stack: `ros2 launch gr2_bringup robot.launch.py [sim:=true] [robot_ip:=...] ...`.

The nodes and their parameter files come from config/graph.yaml through gr2_bringup.graph,
the same description `gr2-up` starts on hosts without `ros2 launch`, so both paths run the
same graph. Arguments: sim, robot_ip, checkpoint, device, rviz, record, part (see graph.yaml);
rviz:=true adds robot_state_publisher (URDF, TF) and rviz2 with config/gr2.rviz. The exit of an
essential node (drivers, WBC: graph.yaml) shuts the launch down; any other node may die and be
restarted while the robot part brakes and holds.
"""

from launch_ros.actions import Node

from gr2_bringup.dds_shm import remove_stale_port_segments
from gr2_bringup.graph import load_graph, parse_bool, resolve_graph
from gr2_bringup.up import default_bag_dir, recorder_command
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration


def _graph_actions(context):
    graph = load_graph()
    args = {name: LaunchConfiguration(name).perform(context) for name in graph["arguments"]}
    # Before any participant starts: an empty shared-memory port left by a killed node would hang it.
    actions = [LogInfo(msg=line) for line in remove_stale_port_segments().messages()]
    # Every node, RViz and robot_state_publisher (rviz:=true) included, comes from graph.yaml.
    for spec in resolve_graph(args, graph=graph):
        parameters = [str(path) for path in spec.parameter_files]
        if spec.parameters:
            parameters.append(dict(spec.parameters))
        if spec.text_parameters:  # the URDF as robot_description: launch_ros writes it to a params file
            parameters.append(dict(spec.text_parameters))
        actions.append(Node(package=spec.package, executable=spec.executable, name=spec.name,
                            parameters=parameters, arguments=list(spec.command_args) or None,
                            prefix=" ".join(spec.prefix()) or None,
                            on_exit=[Shutdown(reason=f"{spec.name} exited: the robot part is incomplete")]
                            if spec.essential else None,
                            output="screen", emulate_tty=True))

    if parse_bool("record", args["record"]):
        actions.append(ExecuteProcess(cmd=recorder_command(default_bag_dir()), output="screen"))
    return actions


def generate_launch_description():
    graph = load_graph()
    declared = [DeclareLaunchArgument(name, default_value=str(spec["default"]),
                                      description=spec["description"])
                for name, spec in graph["arguments"].items()]
    return LaunchDescription([*declared, OpaqueFunction(function=_graph_actions)])
