"""Build glue for the optional compiled UDP loop; everything else is in pyproject.toml.

`optional=True`: without a C compiler (or Python headers) the build warns and installs the
pure-Python package, which serves the same answers (globaldns/server/dns.py picks the path).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "globaldns.server._fastudp",
            ["globaldns/server/_fastudp.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
