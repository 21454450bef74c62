"""Export packages: one folder per cluster with its frames and a ``september.json`` manifest.

The manifest is the contract between september's export and whoever processes the package (the
in-repo engine, the PixInsight companion): its JSON Schema ships beside this module.
"""
