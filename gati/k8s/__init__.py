"""Kubernetes without a cluster: the GatiApp spec, its CRD and its rendered objects.

Pure (no client, no I/O): both the operator (``gati.operator``) and ``gati k8s render``
build their objects here, so GitOps manifests and the operator's never differ.
"""
