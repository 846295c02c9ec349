"""Configuration: pydantic models and a YAML loader that reports FILE:LINE:COL.

This package imports nothing above it, so its ``load_config`` renders template overrides
only when given the check; the service loads through :mod:`automation.configuration`.
"""

from automation.config.loader import ConfigProblem, ConfigValidationError, load_config
from automation.config.models import AppConfig

__all__ = ["AppConfig", "ConfigProblem", "ConfigValidationError", "load_config"]
