"""Build hook: ship the example archs and workloads inside the wheel.

Metadata lives in pyproject.toml. The repository keeps its example architectures in
``archs/`` and workloads in ``workloads/`` (next to the scripts that regenerate them); a
wheel copies the data files, and no script, into ``qsnnsim/_examples/`` so that
``qsnnsim run archs/core16.yaml workloads/tiny_mlp.npz`` works outside the checkout
(qsnnsim/examples.py resolves those names).
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = {"archs": "*.yaml", "workloads": "*.npz"}


class BuildWithExamples(build_py):
    def run(self):
        super().run()
        for folder, pattern in EXAMPLES.items():
            target = os.path.join(self.build_lib, "qsnnsim", "_examples", folder)
            os.makedirs(target, exist_ok=True)
            for path in sorted(glob.glob(os.path.join(HERE, folder, pattern))):
                shutil.copy2(path, target)


setup(cmdclass={"build_py": BuildWithExamples})
