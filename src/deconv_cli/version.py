"""The version of deconv, in a module of its own so that every part can read it cheaply."""

__version__ = "1.0.0"
