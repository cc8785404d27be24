from setuptools import find_packages, setup

PACKAGE = "gr2_drivers"

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
    description=("Driver nodes of the GR-2 robot: Kinova Gen3 (kortex_api), Robotiq 2F-85, Intel RealSense, "
                 "and the MuJoCo simulation of the same robot with the same interfaces."),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sim_node = gr2_drivers.sim_node:main",
            "kinova_arm_node = gr2_drivers.kinova_arm_node:main",
            "realsense_camera_node = gr2_drivers.realsense_camera_node:main",
        ],
    },
)
