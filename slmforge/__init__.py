"""slmforge: turn a file of examples into a specialized small language model."""

__version__ = "0.1.0"
