"""Tests of the Kubernetes API emulator (harness/kube_emulator/) through the real client."""
