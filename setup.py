"""Build hook (the project itself is described in pyproject.toml): a wheel has no proto/ beside its
package, so building one copies proto/protocol.json, the wire contract, into mcl_worker/."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithProtocol(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "mcl_worker" / "protocol.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).resolve().parent / "proto" / "protocol.json", target)


setup(cmdclass={"build_py": BuildPyWithProtocol})
