"""Settings: a typed tree (model.py) loaded from YAML profiles and the environment (loader.py)."""

from aistack.settings.loader import SettingsError, load_settings
from aistack.settings.model import Settings

__all__ = ["Settings", "SettingsError", "load_settings"]
