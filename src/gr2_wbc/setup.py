from setuptools import find_packages, setup

PACKAGE = "gr2_wbc"

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
    description="200 Hz whole-body controller: Pinocchio robot model, OSQP trajectory optimisation of action chunks, QP tracking under joint limits, collision and manipulability constraints.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "wbc_node = gr2_wbc.wbc_entry:main",
        ],
    },
)
