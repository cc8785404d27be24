# Source this file (`. ./env.sh`) to work in the GR-2 workspace on a machine without a ROS install:
# it activates the venv that carries ROS 2 Jazzy from PyPI wheels and overlays the colcon install/.
# On a real ROS 2 Jazzy host use `source /opt/ros/jazzy/setup.bash && source install/setup.bash`.
_gr2_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
if [ ! -x "$_gr2_root/.venv/bin/python" ]; then
  echo "env.sh: $_gr2_root/.venv is missing; run 'make setup' first" >&2
  return 1 2>/dev/null || exit 1
fi
. "$_gr2_root/.venv/bin/activate"
# The wheels install ROS packages into the venv prefix; ament and colcon look them up there.
export AMENT_PREFIX_PATH="$_gr2_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_gr2_root/.venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [ -f "$_gr2_root/install/setup.bash" ] && [ -n "${BASH_VERSION:-}" ]; then
  . "$_gr2_root/install/setup.bash"
elif [ -f "$_gr2_root/install/setup.sh" ]; then
  COLCON_CURRENT_PREFIX="$_gr2_root/install" . "$_gr2_root/install/setup.sh"
fi
# The command-line tools (gr2-model, gr2-up, gr2-bag) are installed where `ros2 run` finds them,
# install/<package>/lib/<package>/; put those folders on PATH so they run as the README writes them.
for _gr2_bin in "$_gr2_root"/install/gr2_*/lib/gr2_*; do
  case ":$PATH:" in *":$_gr2_bin:"*) ;; *) [ -d "$_gr2_bin" ] && PATH="$_gr2_bin:$PATH" ;; esac
done
unset _gr2_bin
export PATH
# Offscreen MuJoCo rendering without a display; offline model loading (no hub on these machines).
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export GR2_WORKSPACE="$_gr2_root"
unset _gr2_root
