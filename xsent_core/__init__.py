"""xsent_core: cross-lingual and multimodal sentiment methods (no UI code here).

Importing the package does no work: heavy modules (torch, transformers) load
only when a submodule that needs them is imported.
"""

__version__ = "0.1.0"
