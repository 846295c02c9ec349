"""Backends implementing the ports: ``local`` (a folder) and, later, ``graph``."""
