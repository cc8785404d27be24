from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr2_policy"
# Shipped checkpoints (safetensors + JSON + training notes), installed to share/gr2_policy/checkpoints/<name>
CHECKPOINTS = [(f"share/{PACKAGE}/{d}", sorted(glob(f"{d}/*"))) for d in sorted(glob("checkpoints/*"))]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *CHECKPOINTS,
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="GR-2 stack developers",
    maintainer_email="gr2-stack@users.noreply.github.com",
    description=("GR-2 video-language-action policy: model (VQGAN, text encoders, GPT-style transformer, "
                 "cVAE action head), training, inference and the policy node."),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = gr2_policy.policy_node:main",
            "gr2-model = gr2_policy.cli:main",
        ],
    },
)
