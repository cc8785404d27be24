import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

PACKAGE = "gr2_wbc"
HERE = Path(__file__).resolve().parent


def runtime_python() -> tuple[str, Path]:
    """The interpreter the nodes run with and the Pinocchio it imports: this interpreter if it
    has Pinocchio, else python3 on PATH (colcon from apt runs setup.py with /usr/bin/python3
    while the stack's venv comes first on PATH, as in docker/Dockerfile)."""
    for python in (sys.executable, shutil.which("python3")):
        if python:
            found = subprocess.run([python, "-c", "import pinocchio; print(pinocchio.__file__)"],
                                   capture_output=True, text=True)
            if found.returncode == 0:
                return python, Path(found.stdout.strip())
    raise RuntimeError("gr2_wbc needs Pinocchio (pip install -r requirements.txt) to build its compiled cycle")


class CMakeBuild(build_ext):
    """Builds gr2_wbc._cycle (cycle/CMakeLists.txt) against the Pinocchio that the nodes' Python
    imports: the module works on Pinocchio's own C++ objects, so any other build would not match."""

    def build_extension(self, ext: Extension) -> None:
        python, init = runtime_python()   # .../<prefix>/lib/pythonX.Y/site-packages/pinocchio/__init__.py
        prefix = init.resolve().parents[4]
        prefixes = [str(prefix)] + [p for p in os.environ.get("CMAKE_PREFIX_PATH", "").split(os.pathsep) if p]
        build_dir = Path(self.build_temp).resolve() / "cycle"
        build_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cmake", "-S", str(HERE / "cycle"), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                        f"-DCMAKE_PREFIX_PATH={';'.join(prefixes)}", f"-DPython3_EXECUTABLE={python}"],
                       check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--parallel", "2"], check=True)
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        built = next(build_dir.glob("_cycle*.so"))
        shutil.copyfile(built, target)


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    ext_modules=[Extension(f"{PACKAGE}._cycle", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="GR-2 stack developers",
    maintainer_email="gr2-stack@users.noreply.github.com",
    description=("200 Hz whole-body controller: Pinocchio robot model, OSQP trajectory optimisation of "
                 "action chunks, QP tracking under joint limits, collision and manipulability constraints."),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "wbc_node = gr2_wbc.wbc_entry:main",
        ],
    },
)
