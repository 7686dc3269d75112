"""The package version (a leaf module: the report reads it without importing the package)."""

__version__ = "0.1.0"
