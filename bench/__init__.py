"""Gati's benchmarks: the request path (``request_path.py``) and peers side by side
(``run_peers.py``). Not part of the ``gati`` package and not run by the test suite."""
