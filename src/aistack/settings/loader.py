"""Load Settings: bundled defaults, then YAML profiles in order, then AISTACK_* environment variables.

Order of precedence, lowest first:
1. the field defaults in `model.py`;
2. `settings.yaml` from the package, then from the settings folder (`AISTACK_SETTINGS_DIR`, default
   the current directory);
3. for each profile in `AISTACK_PROFILES` (comma-separated, in order): `settings-<profile>.yaml`
   from the package, then from the settings folder;
4. environment variables `AISTACK_<SECTION>__<FIELD>`, e.g. `AISTACK_SERVER__PORT=9000`.

String values in YAML may use `${VAR}` or `${VAR:default}`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aistack.settings.model import Settings
from aistack.settings.redact import looks_secret, mask_url_passwords

PACKAGE_PROFILES = Path(__file__).parent / "profiles"
ENV_PREFIX = "AISTACK_"
# Variables that steer the loader itself rather than naming a field.
LOADER_VARIABLES = {"AISTACK_PROFILES", "AISTACK_SETTINGS_DIR"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class SettingsError(Exception):
    """Settings that cannot be used; the message names each bad field and what is allowed."""


def expand_variables(value: Any, environ: Mapping[str, str]) -> Any:
    """Replace ${VAR} and ${VAR:default} in every string of a YAML tree."""
    if isinstance(value, dict):
        return {key: expand_variables(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_variables(item, environ) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is None:
            raise SettingsError(f"${{{name}}} is used in settings but {name} is not set")
        return default

    return _VARIABLE.sub(substitute, value)


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`: dicts merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the top level must be a mapping, not {type(data).__name__}")
    return data


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """AISTACK_A__B=value becomes {"a": {"b": value}}; values starting with [ or { are YAML.

    Only names whose first part is a top-level field count (AISTACK_HOME, AISTACK_SERVER__PORT);
    others, such as AISTACK_LLM_THREADS, are free for ${VAR} expansion in YAML."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in LOADER_VARIABLES:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] not in Settings.model_fields:
            continue
        value: Any = yaml.safe_load(raw) if raw.strip()[:1] in ("[", "{") else raw
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError(f"{name}: conflicts with another AISTACK_ variable")
        node[path[-1]] = value
    return tree


def profile_files(profiles: list[str], settings_dir: Path) -> list[Path]:
    """The YAML files to merge, in order; a named profile that exists nowhere is an error."""
    files: list[Path] = []
    for stem in ["settings", *(f"settings-{name}" for name in profiles)]:
        found = [d / f"{stem}.yaml" for d in (PACKAGE_PROFILES, settings_dir)]
        found = [path for path in found if path.is_file()]
        if not found and stem != "settings":
            known = sorted(p.stem.removeprefix("settings-") for p in PACKAGE_PROFILES.glob("settings-*.yaml"))
            raise SettingsError(
                f"profile '{stem.removeprefix('settings-')}' not found in {PACKAGE_PROFILES} "
                f"or {settings_dir}; bundled profiles: {', '.join(known)}"
            )
        files.extend(dict.fromkeys(path.resolve() for path in found))
    return files


def format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        given = item.get("input")
        if isinstance(given, dict):
            shown = ""
        elif looks_secret(item["loc"]):
            shown = " (the value given is not shown: it may be a secret)"
        else:
            shown = f" (got {mask_url_passwords(repr(given))})"
        lines.append(f"  {where}: {item['msg']}{shown}")
    return "invalid settings:\n" + "\n".join(lines)


def load_settings(
    environ: Mapping[str, str] | None = None, profiles: list[str] | None = None
) -> Settings:
    """Build the effective Settings. Raises SettingsError with a readable message."""
    environ = os.environ if environ is None else environ
    if profiles is None:
        profiles = [p.strip() for p in environ.get("AISTACK_PROFILES", "").split(",") if p.strip()]
    settings_dir = Path(environ.get("AISTACK_SETTINGS_DIR") or Path.cwd())
    merged: dict[str, Any] = {}
    for path in profile_files(profiles, settings_dir):
        merged = deep_merge(merged, expand_variables(read_yaml(path), environ))
    merged = deep_merge(merged, env_overrides(environ))
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc)) from None
