"""The Kubernetes tests' `mesh` fixture (fresh emulator clusters and a globaldns on them)."""

from tests.kubernetes.conftest import mesh as mesh
