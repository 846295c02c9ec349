"""Configuration: pydantic models and a YAML loader that reports FILE:LINE:COL."""

from automation.config.loader import ConfigProblem, ConfigValidationError, load_config
from automation.config.models import AppConfig

__all__ = ["AppConfig", "ConfigProblem", "ConfigValidationError", "load_config"]
