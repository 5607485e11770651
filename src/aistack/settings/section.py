"""The base of every settings section: unknown keys are errors; every secret `<name>` also
accepts `<name>_file`, a file that holds it (Docker secrets), read once at load time."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from aistack import plugins


def known_backend(seam: str, built_in: tuple[str, ...], name: str) -> str:
    """`name` if it is a built-in backend of `seam` or one an installed plugin registered."""
    if name in built_in or name in plugins.backends(seam):
        return name
    known = [*built_in, *sorted(plugins.backends(seam))]
    raise ValueError(f"'{name}' is not a backend; choose one of: {', '.join(known)} (or install a plugin that "
                     "adds one)")


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, `<secret>_file` fields are read."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_file_is_none(cls, value: object, info) -> object:
        # `${SECRET_FILE:}` expands to "", which means "no file".
        if info.field_name.endswith("_file") and value == "":
            return None
        return value

    @model_validator(mode="after")
    def _read_secret_files(self) -> "Section":
        for name in type(self).model_fields:
            if not name.endswith("_file"):
                continue
            secret = name.removesuffix("_file")
            path = getattr(self, name)
            if secret not in type(self).model_fields or path is None:
                continue
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read {name} {path}: {exc.strerror}") from None
            current = getattr(self, secret)
            if isinstance(current, list):
                lines = [line.strip() for line in text.splitlines()]
                keys = [SecretStr(line) for line in lines if line and not line.startswith("#")]
                object.__setattr__(self, secret, current + keys)
            else:
                object.__setattr__(self, secret, SecretStr(text.strip()))
        return self
