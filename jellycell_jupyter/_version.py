"""The package version, read by the build and by the server handshake."""

__version__ = "0.1.0"
