"""Gradio tabs: one module per tab, each exposing `build(services)`."""
