"""A protocol-faithful emulator of the Kubernetes API subset globaldns and its installer use."""

from .background import EmulatorThread
from .cluster import Cluster
from .control import ControlClient, ControlError
from .emulator import Emulator
from .kubeconfig import Endpoint, kubeconfig, remote_secret
from .seed import seed_cluster, service_objects

__all__ = [
    "Cluster",
    "ControlClient",
    "ControlError",
    "Emulator",
    "EmulatorThread",
    "Endpoint",
    "kubeconfig",
    "remote_secret",
    "seed_cluster",
    "service_objects",
]
