"""A small mesh that many tests and the TCP bench serve: one address (`foo`), one under a
namespace (`httpbin.bar`, so `bar.global` is an empty non-terminal), and 100 addresses (`big`,
1.6 KB answers, truncated over UDP)."""

MESH = {
    "localCluster": "a",
    "clusters": [{"name": "a", "region": "r", "gateways": ["192.0.2.1"]}],
    "services": [
        {
            "name": "foo",
            "ports": [{"name": "http", "port": 80}],
            "instances": {"a": {"addresses": ["10.0.0.1"], "ready": 1}},
        },
        {"name": "httpbin.bar", "instances": {"a": {"addresses": ["10.0.0.2"], "ready": 1}}},
        {
            "name": "big",
            "instances": {
                "a": {"addresses": [f"10.1.{i // 250}.{i % 250}" for i in range(100)], "ready": 1}
            },
        },
    ],
}
