from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr2_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        # gr2_contract.config finds the installed config/ by this resource type, not by package name
        ("share/ament_index/resource_index/gr2_config", [f"resource/gr2_config/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ]
    + [(f"share/{PACKAGE}/launch", glob("launch/*.py"))]
    + [(f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz"))],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="GR-2 stack developers",
    maintainer_email="gr2-stack@users.noreply.github.com",
    description=("Launch files, parameter YAML and RViz configuration of the GR-2 stack, and a launcher "
                 "that starts the same node graph on hosts without ros2 launch."),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "gr2-up = gr2_bringup.up:main",
            "gr2-bag = gr2_bringup.bag.cli:main",
        ],
    },
)
