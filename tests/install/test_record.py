"""The install record on the wired ConfigMap is written by whoever can edit that ConfigMap: only
the shape install writes is read back, anything else is a `RecordError` naming the ConfigMap."""

from __future__ import annotations

import json

import pytest

from globaldns.install import record
from globaldns.install.kube import Ref

GOOD = {
    "previous": {"Corefile": ".:53 {\n}\n", "gone": None},
    "applied": [["v1", "Namespace", "", "globaldns"]],
    "hadAnnotations": False,
    "hadData": True,
}


def configmap(annotation: str) -> dict[str, object]:
    return {
        "metadata": {
            "name": "coredns",
            "namespace": "kube-system",
            "annotations": {record.ANNOTATION: annotation},
        }
    }


def test_a_record_install_wrote_reads_back() -> None:
    read = record.read(configmap(json.dumps(GOOD)))
    assert read is not None
    assert read.applied == (Ref("v1", "Namespace", "", "globaldns"),)
    assert read.previous == GOOD["previous"]


@pytest.mark.parametrize(
    "annotation",
    [
        "not json",
        "[]",
        json.dumps({**GOOD, "previous": ["Corefile"]}),
        json.dumps({**GOOD, "previous": {"Corefile": 5}}),
        json.dumps({**GOOD, "applied": [["apps/v1", "Deployment"]]}),
        json.dumps({**GOOD, "applied": [["v1", "Namespace", "", {"name": "x"}]]}),
        json.dumps({**GOOD, "applied": "v1/Namespace/globaldns"}),
        json.dumps({**GOOD, "hadData": "yes"}),
        json.dumps({k: v for k, v in GOOD.items() if k != "hadAnnotations"}),
    ],
)
def test_an_annotation_of_another_shape_is_refused_naming_the_configmap(annotation: str) -> None:
    with pytest.raises(record.RecordError, match=r"^kube-system/coredns: the globaldns.io/install"):
        record.read(configmap(annotation))
