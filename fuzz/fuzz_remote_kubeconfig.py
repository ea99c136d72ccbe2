"""Fuzz the remote-kubeconfig allowlist: any bytes are an accepted kubeconfig or a refusal.

The bytes are the kubeconfig a Secret carries (base64-encoded here, as in a Secret), checked with
no option allowed and with every option allowed, and also taken as the Secret's value itself
(mostly not base64). Anything other than `Accepted` or `RemoteKubeconfigRefused` is a crash; so
is an accepted document with no option allowed that carries a field off the allowlist.

    mkdir -p /tmp/fuzz/remote_kubeconfig   # libFuzzer adds what it finds to the first directory
    PYTHONPATH=. python fuzz/fuzz_remote_kubeconfig.py /tmp/fuzz/remote_kubeconfig \
        fuzz/corpus/remote_kubeconfig -runs=1000000
"""

from __future__ import annotations

import base64
import contextlib
import sys

import atheris

# Coverage of the allowlist and the YAML it reads, not of the Kubernetes client its package loads.
with atheris.instrument_imports(include=["globaldns.sources.kubernetes.remote_kubeconfig", "yaml"]):
    from globaldns.sources.kubernetes.remote_kubeconfig import (
        Allow,
        RemoteKubeconfigRefused,
        accept,
    )

PLAIN_USER = {"token", "client-certificate-data", "client-key-data"}
PLAIN_CLUSTER = {"server", "certificate-authority-data", "tls-server-name"}


def TestOneInput(data: bytes) -> None:
    encoded = base64.b64encode(data).decode()
    try:
        accepted = accept(encoded)
    except RemoteKubeconfigRefused:
        pass
    else:
        document = accepted.document
        for entry in document.get("users") or ():
            assert set(entry["user"]) <= PLAIN_USER, entry
        for entry in document.get("clusters") or ():
            assert set(entry["cluster"]) <= PLAIN_CLUSTER | {"insecure-skip-tls-verify"}, entry
            assert entry["cluster"].get("insecure-skip-tls-verify", False) is False, entry
    with contextlib.suppress(RemoteKubeconfigRefused):
        accept(encoded, tuple(Allow))
    with contextlib.suppress(RemoteKubeconfigRefused):
        accept(data.decode("latin-1"))


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
