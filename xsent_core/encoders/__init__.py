"""Text and image encoders: the builtin offline models and any user checkpoint.

Import the submodules (`registry`, `text_encoder`, `image`, `builtin_e5`)
directly; this package itself imports nothing heavy.
"""
