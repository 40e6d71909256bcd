"""Renderers that turn text into images (PixelWorld's "perceive everything as pixels" inputs)."""
