"""Shared frame of the five services: settings, errors, data-root paths, auth, app factory."""
