"""NodeLocal DNSCache: where it runs, pods ask it first and it forwards everything outside the
cluster domain to the node's upstream, so `install` wires its Corefile too (and `uninstall`
gives it back byte for byte)."""

from __future__ import annotations

from .conftest import COREFILES, KUBEADM_COREFILE, Clusters, configmap

NODE_LOCAL_COREFILE = (COREFILES / "nodelocaldns.Corefile").read_text()
DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "node-local-dns", "namespace": "kube-system"},
    "spec": {"selector": {"matchLabels": {"k8s-app": "node-local-dns"}}},
}


def with_node_local(cluster: Clusters, daemonset: bool = True) -> str:
    (name,) = cluster.names
    cluster.control.put(name, configmap("node-local-dns", {"Corefile": NODE_LOCAL_COREFILE}))
    if daemonset:
        cluster.control.put(name, DAEMONSET)
    return name


def node_local_corefile(cluster: Clusters, name: str) -> str:
    return str(cluster.configmap(name, "node-local-dns")["data"]["Corefile"])


def service_ip(cluster: Clusters, name: str) -> str:
    (service,) = cluster.control.objects(name, "v1", "Service", "globaldns")
    return str(service["spec"]["clusterIP"])


def test_install_wires_coredns_and_node_local_dns(cluster: Clusters) -> None:
    name = with_node_local(cluster)
    run = cluster.globaldns("install")
    assert run.status == 0, run.out + run.err
    address = service_ip(cluster, name)
    assert f"forward . {address}:53\n" in cluster.corefile(name)
    assert node_local_corefile(cluster, name) == NODE_LOCAL_COREFILE + (
        "\n# globaldns: forwards global. to globaldns\n"
        "global:53 {\n"
        "    errors\n"
        "    cache 5\n"
        "    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__\n"
        f"    forward . {address}:53 {{\n"
        "        force_tcp\n"
        "    }\n"
        "}\n"
    )
    assert "Corefile + node-local-dns" in run.out


def test_uninstall_restores_both_corefiles_byte_for_byte(cluster: Clusters) -> None:
    name = with_node_local(cluster)
    assert cluster.globaldns("install").status == 0
    assert cluster.globaldns("install", "--ttl", "9").status == 0
    assert cluster.globaldns("uninstall").status == 0
    assert cluster.corefile(name) == KUBEADM_COREFILE
    assert node_local_corefile(cluster, name) == NODE_LOCAL_COREFILE
    assert "annotations" not in cluster.configmap(name, "node-local-dns")["metadata"]


def test_a_node_local_configmap_without_its_daemonset_is_left_alone(cluster: Clusters) -> None:
    name = with_node_local(cluster, daemonset=False)
    assert cluster.globaldns("install").status == 0
    assert node_local_corefile(cluster, name) == NODE_LOCAL_COREFILE


def test_dry_run_shows_the_node_local_diff_too(cluster: Clusters) -> None:
    with_node_local(cluster)
    run = cluster.globaldns("install", "--dry-run")
    assert "kube-system/node-local-dns/Corefile" in run.out
    assert "+        force_tcp" in run.out


def test_a_failed_wait_leaves_node_local_dns_untouched(cluster: Clusters) -> None:
    name = with_node_local(cluster)
    cluster.control.pod_outcome(name, "image-pull")
    assert cluster.globaldns("install", "--timeout", "1").status == 1
    assert node_local_corefile(cluster, name) == NODE_LOCAL_COREFILE


def test_the_network_policy_admits_the_node_cidrs_given(cluster: Clusters) -> None:
    name = with_node_local(cluster)
    args = (
        "--component",
        "networkpolicy",
        "--node-cidr",
        "10.0.0.0/16",
        "--node-cidr",
        "fd00::/64",
    )
    assert cluster.globaldns("install", *args).status == 0
    (policy,) = cluster.control.objects(name, "networking.k8s.io/v1", "NetworkPolicy", "globaldns")
    assert policy["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {}},
        {"ipBlock": {"cidr": "10.0.0.0/16"}},
        {"ipBlock": {"cidr": "fd00::/64"}},
    ]


def test_the_network_policy_without_node_cidrs_is_refused_where_node_local_dns_runs(
    cluster: Clusters,
) -> None:
    name = with_node_local(cluster)
    cluster.control.clear_requests(name)
    run = cluster.globaldns("install", "--component", "networkpolicy")
    assert run.status == 1
    assert "give the node CIDR(s) with --node-cidr CIDR; nothing was written" in run.out
    assert cluster.writes(name) == []


def test_a_node_cidr_with_host_bits_is_a_usage_error(cluster: Clusters) -> None:
    run = cluster.globaldns("install", "--node-cidr", "10.0.0.1/16")
    assert run.status == 2
    assert "'10.0.0.1/16' is not a network such as 10.0.0.0/16" in run.err
