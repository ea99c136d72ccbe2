"""The emulator's stand-in for the Deployment controller and the kubelet: what a Deployment
written through the real client gets, per the cluster's chosen pod outcome."""

from kubernetes_asyncio.client import AppsV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from .kube_client import run


def deployment(image):
    labels = {"app": "web"}
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def write(cluster, image):
    async def apply(api):
        apps = AppsV1Api(api)
        try:
            await apps.read_namespaced_deployment("web", "default")
        except ApiException:  # absent: create it
            return await apps.create_namespaced_deployment("default", deployment(image))
        return await apps.replace_namespaced_deployment("web", "default", deployment(image))

    run(cluster, apply)


def pods(cluster):
    return cluster.control.objects(cluster.name, "v1", "Pod", "default")


def replica_sets(cluster):
    return cluster.control.objects(cluster.name, "apps/v1", "ReplicaSet", "default")


def ready(pod):
    return {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"


def test_a_deployment_gets_a_ready_pod_with_its_template_labels(cluster):
    write(cluster, "web:1")
    (pod,) = pods(cluster)
    assert ready(pod)
    assert pod["metadata"]["labels"]["app"] == "web"


def test_an_unpullable_image_leaves_a_pending_pod_in_image_pull_back_off(cluster):
    cluster.control.pod_outcome(cluster.name, "image-pull")
    write(cluster, "web:missing")
    (pod,) = pods(cluster)
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert not ready(pod)
    assert waiting == {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "web:missing"',
    }


def test_a_quota_refusal_is_a_replica_failure_and_no_pod(cluster):
    cluster.control.pod_outcome(cluster.name, "quota")
    write(cluster, "web:1")
    (replica_set,) = replica_sets(cluster)
    (condition,) = replica_set["status"]["conditions"]
    assert pods(cluster) == []
    assert (condition["type"], condition["reason"]) == ("ReplicaFailure", "FailedCreate")
    assert "quota" in condition["message"]


def test_a_failing_rollout_keeps_the_ready_pods_of_the_last_one(cluster):
    write(cluster, "web:1")
    cluster.control.pod_outcome(cluster.name, "image-pull")
    write(cluster, "web:2")
    assert sorted(ready(pod) for pod in pods(cluster)) == [False, True]
    assert len(replica_sets(cluster)) == 2


def test_a_ready_rollout_replaces_the_old_pods(cluster):
    write(cluster, "web:1")
    write(cluster, "web:2")
    (pod,) = pods(cluster)
    assert pod["spec"]["containers"][0]["image"] == "web:2"
