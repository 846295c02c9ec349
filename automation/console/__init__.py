"""The web console: the current report and the service's state in a browser (Japanese UI)."""
