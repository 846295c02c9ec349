"""Scheduled Microsoft 365 workflows for prefectural disaster response and DX reporting."""

__version__ = "0.1.0"
