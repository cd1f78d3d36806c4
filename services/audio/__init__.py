"""workflow-audio: Essentia MusicExtractor behind POST /analyze/comprehensive (ASGI app: services.audio.app:app)."""

__version__ = "0.1.0"
