"""One sub-package per method; `xsent_core.registry` maps names to classes."""
