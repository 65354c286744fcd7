"""The ``cryoray`` command line: one module per command (see :mod:`cryoray.cli.main`)."""
