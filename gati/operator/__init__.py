"""The Kubernetes operator: reconciles ``GatiApp`` resources (``gati operator``).

``reconcile.converge`` is the whole of one reconcile; ``handlers`` wires it into kopf;
``kube`` is the API client and ``probes`` reads Kafka lag and Timescape usage.
"""
