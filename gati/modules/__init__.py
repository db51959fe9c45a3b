"""Adapters behind ``gctx``: secret providers (environment, files)."""

from gati.modules.secrets import EnvSecrets, FileSecrets

__all__ = ["EnvSecrets", "FileSecrets"]
