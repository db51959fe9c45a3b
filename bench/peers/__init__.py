"""The systems compared in ``bench/run_peers.py``, each serving ``handler.work``."""
