"""How plugins are built; the public names live in :mod:`hostkit.build`."""
