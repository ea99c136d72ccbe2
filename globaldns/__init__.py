"""globaldns: local-first authoritative DNS for the global. zone of multi-cluster meshes."""

__version__ = "0.1.0"
