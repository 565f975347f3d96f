"""Builds the Clock's optional C accelerator (targets/clock/_cclock.c); metadata is in pyproject.toml.

Where no C compiler (or no Python headers) is available the build warns and goes on without it:
targets/clock/_impl.py then serves the pure-Python implementation.
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The source's hash, compiled in as _cclock.SOURCE_HASH: the import refuses a build of another source
# (targets/clock/_impl.py). Loaded by path: the package cannot be imported before it is built.
_spec = importlib.util.spec_from_file_location("_source_hash", Path(__file__).parent / "targets/clock/_source_hash.py")
_source_hash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_source_hash)


class OptionalBuildExt(build_ext):
    """A build_ext whose failure is a warning, not an error: the extension is an accelerator."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all: distutils' setup errors
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, missing headers
            self._warn(exc)

    @staticmethod
    def _warn(exc: Exception) -> None:
        print(f"WARNING: the Clock's C accelerator was not built ({exc}); the pure-Python clock will be used.")


setup(
    ext_modules=[
        Extension(
            "targets.clock._cclock",
            sources=["targets/clock/_cclock.c"],
            extra_compile_args=["-O2"],
            define_macros=[("CCLOCK_SOURCE_HASH", f'"{_source_hash.source_hash()}"')],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
