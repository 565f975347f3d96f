"""Builds the Clock's optional C accelerator (targets/clock/_cclock.c); metadata is in pyproject.toml.

Where no C compiler (or no Python headers) is available the build warns and goes on without it:
targets/clock/_impl.py then serves the pure-Python implementation.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


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
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
