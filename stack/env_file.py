"""The `.env` file compose reads: generated from `.env.example` with fresh secrets, never clobbering the user's.

    result = ensure_env_file()          # .env next to .env.example, mode 0600
    result.generated                    # ("POSTGRES_PASSWORD", ...) — the keys that got a fresh value
    read_env_file(result.path)          # {"POSTGRES_PASSWORD": "...", ...}

A secret is a key whose example value is a placeholder (`change-me-…`; contracts.deployment_secrets says which
values are not secrets, e.g. the Fernet key an earlier example published). Missing file: the example is copied
with its comments and every secret freshly generated. Existing file: values the user set are kept;
only secrets that are missing, empty or still a placeholder get a fresh value.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import dotenv_values

from contracts.deployment_secrets import MODEL_SIGNING_KEY_ENV, is_placeholder
from stack.paths import ENV_EXAMPLE, ENV_FILE

DEFAULT_ENV_FILE = ENV_FILE
DEFAULT_EXAMPLE_FILE = ENV_EXAMPLE
FERNET_SUFFIX = "FERNET_KEY"
JWT_SUFFIX, JWT_SECRET_BYTES = "JWT_SECRET", 64
# `KEY=...` or `export KEY=...`; group 1 keeps the prefix so a rewritten line looks like the user's.
ASSIGNMENT = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)\s*=")
# Written without quotes when every character is one of these (compose v1 and v2 read them alike).
BARE_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")


@dataclass(frozen=True)
class EnvFileResult:
    path: Path
    created: bool  # the file did not exist and was written from the example
    generated: tuple[str, ...]  # keys that got a freshly generated secret (in file order)


def read_env_file(path: Path | str) -> dict[str, str]:
    """KEY → value of a dotenv file (comments, blank lines, quotes and `export` handled by python-dotenv).

    No `${VAR}` interpolation: the values are taken literally, as compose takes secrets.
    """
    values = dotenv_values(Path(path), interpolate=False)
    return {key: value or "" for key, value in values.items()}


def secret_keys(example_values: dict[str, str]) -> list[str]:
    """The keys of the example that hold a secret (placeholder or the published Fernet key)."""
    return [key for key, value in example_values.items() if is_placeholder(value) or key.endswith(FERNET_SUFFIX)]


def jwt_secret() -> str:
    """A key for Airflow's JWTs: HS512, whose HMAC key should hold at least 64 bytes (RFC 7518 3.2; PyJWT warns
    `InsecureKeyLengthWarning` below that). 86 URL-safe characters."""
    return secrets.token_urlsafe(JWT_SECRET_BYTES)


def new_secret(key: str) -> str:
    """A fresh value: a Fernet key where Airflow needs one, a 64-byte JWT key, otherwise 43 URL-safe characters.

    URL-safe because the values end up in URLs (postgresql://airflow:<password>@…) and JSON.
    """
    if key.endswith(FERNET_SUFFIX):
        return Fernet.generate_key().decode()
    if key.endswith(JWT_SUFFIX):
        return jwt_secret()
    return secrets.token_urlsafe(32)


def needs_secret(key: str, value: str | None, example_values: dict[str, str]) -> bool:
    """Whether `value` (None: key absent) must be replaced: missing, empty or still the example's placeholder."""
    if is_placeholder(value):  # missing, empty, change-me…, or a value published in the repository
        return True
    return key.endswith(FERNET_SUFFIX) and value == example_values.get(key)


def format_value(value: str) -> str:
    """A value as a dotenv line holds it: bare when safe, else single-quoted (literal in compose v1 and v2)."""
    if BARE_VALUE.fullmatch(value):
        return value
    if "'" in value or "\n" in value:
        raise ValueError(f"cannot write {value!r} to an env file: it holds a quote or a newline")
    return f"'{value}'"


def write_private(path: Path, text: str) -> None:
    """Write atomically (temp file + rename) with mode 0600 from the first byte: the file holds secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)  # in case the temp file existed with another mode
    os.replace(tmp, path)


def set_lines(lines: list[str], values: dict[str, str], header: str) -> list[str]:
    """Replace every `KEY=` line of `values` in place; append the keys no line holds, under `header`."""
    out, seen = [], set()
    for line in lines:
        match = ASSIGNMENT.match(line)
        if match and match.group(2) in values:
            key = match.group(2)
            seen.add(key)
            out.append(f"{match.group(1)}{key}={format_value(values[key])}\n")
        else:
            out.append(line if line.endswith("\n") else line + "\n")
    missing = [key for key in values if key not in seen]
    if missing:
        out.append(f"\n# {header}\n")
        out.extend(f"{key}={format_value(values[key])}\n" for key in missing)
    return out


def ensure_env_file(path: Path | str = DEFAULT_ENV_FILE, example: Path | str = DEFAULT_EXAMPLE_FILE) -> EnvFileResult:
    """Make sure `path` exists with every secret of `example` set to a real value; mode 0600.

    Idempotent: a second call generates nothing and leaves the content untouched.
    """
    path, example = Path(path), Path(example)
    example_values = read_env_file(example)
    created = not path.exists()
    source = example if created else path
    current = read_env_file(source)  # fresh file: the example's placeholders, all replaced below
    to_generate = {
        key: new_secret(key)
        for key in secret_keys(example_values)
        if needs_secret(key, current.get(key), example_values)
    }
    if to_generate or created:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = set_lines(
            source.read_text().splitlines(keepends=True),
            to_generate,
            header=f"Secrets missing from this file, generated {stamp} (stack/env_file.py).",
        )
        write_private(path, "".join(lines))
    else:
        path.chmod(0o600)  # it holds secrets: tighten a file copied by hand with the default umask
    order = list(read_env_file(path))
    generated = tuple(sorted(to_generate, key=order.index))
    return EnvFileResult(path=path, created=created, generated=generated)


def update_env_file(path: Path | str, values: dict[str, str], header: str = "Set by the stack tool.") -> None:
    """Set `values` in an existing env file (lines replaced in place, new keys appended); keeps mode 0600."""
    path = Path(path)
    write_private(path, "".join(set_lines(path.read_text().splitlines(keepends=True), values, header)))


def model_signing_env(values: dict[str, str]) -> dict[str, str]:
    """The services' HSS_MODEL_SIGNING_KEY from an env file's values ({} when it has none: a key per start)."""
    key = values.get(MODEL_SIGNING_KEY_ENV)
    return {MODEL_SIGNING_KEY_ENV: key} if key else {}
