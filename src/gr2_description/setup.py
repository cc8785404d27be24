from setuptools import find_packages, setup

PACKAGE = "gr2_description"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="GR-2 stack developers",
    maintainer_email="gr2-stack@users.noreply.github.com",
    description=("The GR-2 robot as config/robot.yaml describes it, ROS-free: URDF resolution, frames, TCP, "
                 "home, joint limits, and the mounted gripper's collision geometry."),
    license="Apache-2.0",
)
