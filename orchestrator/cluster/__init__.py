"""Cluster mode: GPU classes discovered from Kubernetes nodes, KubeRay worker groups scaled to demand.

Policy (discovery, scaling) is pure; every Kubernetes call goes through the
`ClusterAPI` adapter, whose real implementation is the only module that
imports the `kubernetes` client.
"""
