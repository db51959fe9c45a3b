"""The ``gati`` command: thin click commands over the role packages."""
