"""Audio analysis logic: input checks, Essentia MusicExtractor in worker processes, the flat feature map.

Testable without HTTP. The request path (`analyze_request`) is:
  resolve the path in the data root (403/404/422) -> open it without blocking and check type,
  extension, size, magic bytes and the duration its header declares in this process
  (services.audio.files.inspect_file: 403/404/413/422) -> run `analyze_file` in an `ExtractorPool`
  worker (CPU bound, never on the event loop), which copies the file privately (409 if it changed)
  -> 422 for audio problems found while decoding, 504 on timeout, 503 if a worker died.

Feature naming rule (the key set is the same for every song, whatever its length or format):
  * every numeric scalar descriptor of MusicExtractor under its Essentia name ('rhythm.bpm',
    'lowlevel.spectral_centroid.mean', ... about 470 with the default statistics), except
    metadata.tags.* (file tags, not audio);
  * the fixed-size vectors in FIXED_VECTORS as '<name>.<index>' (e.g. 'lowlevel.mfcc.mean.0');
  * nothing else: no strings, no variable-length vectors (beats_position, ...), no covariance
    matrices. A non-finite value (not seen on real audio, JSON cannot carry it) becomes 0.0.
  Each worker extracts a reference signal at warm-up and conforms every result to that key set.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from contracts.audio import AudioAnalysisRequest, AudioAnalysisResponse, AudioHighlights
from services.audio.files import AudioError, FileIdentity, inspect_file, snapshot
from services.audio.headers import truncation_problem
from services.common.errors import Unavailable
from services.common.paths import resolve_data_path

if TYPE_CHECKING:
    from services.audio.settings import AudioSettings

log = logging.getLogger("hss.audio")

EXTRACTOR_OPTIONS: dict[str, Any] = {}  # MusicExtractor(**EXTRACTOR_OPTIONS): Essentia's defaults
SKIPPED_PREFIXES = ("metadata.tags.",)
FIXED_VECTORS: dict[str, int] = {  # descriptor -> its length (fixed by the extractor's configuration)
    "lowlevel.mfcc.mean": 13,
    "lowlevel.gfcc.mean": 13,
    "lowlevel.barkbands.mean": 27,
    "lowlevel.spectral_contrast_coeffs.mean": 6,
    "lowlevel.spectral_contrast_coeffs.var": 6,
    "lowlevel.spectral_contrast_valleys.mean": 6,
    "lowlevel.spectral_contrast_valleys.var": 6,
    "rhythm.beats_loudness_band_ratio.mean": 6,
    "tonal.hpcp.mean": 36,
    "tonal.thpcp": 36,
    "tonal.chords_histogram": 24,
}


# --- the flat feature map (pure) -----------------------------------------------------------------


def flatten_pool(pool: Any) -> dict[str, float]:
    """Apply the naming rule (module doc) to an essentia Pool or a name -> value mapping."""
    names = sorted(pool.descriptorNames() if hasattr(pool, "descriptorNames") else pool.keys())
    out: dict[str, float] = {}
    for name in names:
        value = pool[name]
        if name in FIXED_VECTORS:
            items = [float(x) for x in (value.ravel() if hasattr(value, "ravel") else value)]
            if len(items) != FIXED_VECTORS[name]:  # a configuration change, never the song: fail loudly
                raise RuntimeError(f"{name} has {len(items)} values, expected {FIXED_VECTORS[name]}")
            out.update((f"{name}.{i}", x) for i, x in enumerate(items))
        elif isinstance(value, int | float) and not isinstance(value, bool) and not name.startswith(SKIPPED_PREFIXES):
            out[name] = float(value)
    return {k: (v if math.isfinite(v) else 0.0) for k, v in out.items()}


def conform(features: Mapping[str, float], keys: Iterable[str]) -> tuple[dict[str, float], list[str]]:
    """Exactly `keys`, in order: a missing key becomes 0.0 (returned, to be logged), extra keys are dropped."""
    keys = list(keys)
    missing = [k for k in keys if k not in features]
    return {k: float(features.get(k, 0.0)) for k in keys}, missing


def highlights_of(pool: Any) -> dict[str, Any]:
    """The handful of descriptors people read first (contracts.audio.AudioHighlights)."""

    def num(name: str, fallback: float = 0.0) -> float:
        value = float(pool[name])
        return value if math.isfinite(value) else fallback

    return {
        "tempo_bpm": num("rhythm.bpm"),
        "key": str(pool["tonal.key_edma.key"]),
        "scale": str(pool["tonal.key_edma.scale"]),
        "key_strength": min(1.0, max(0.0, num("tonal.key_edma.strength"))),
        "duration_s": num("metadata.audio_properties.length"),
        "loudness": num("lowlevel.loudness_ebu128.integrated", -70.0),  # -70 LUFS: EBU R128's absolute gate
        "danceability": max(0.0, num("rhythm.danceability")),
    }


# --- what runs inside a worker process -----------------------------------------------------------

_REFERENCE_KEYS: list[str] = []
TMP_PREFIX = "hss-audio-"  # worker temp dirs: hss-audio-<pid>-*, so a killed worker's can be removed


def _worker_tmpdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-")


def _extract(path: str) -> Any:
    import essentia.standard as es

    pool, _frames = es.MusicExtractor(**EXTRACTOR_OPTIONS)(path)
    return pool


def extractor_name() -> str:
    import essentia

    return f"essentia-{essentia.__version__} MusicExtractor"


def warm_worker() -> dict[str, Any]:
    """Import Essentia and extract a 3 s reference signal: loads everything and fixes the key set."""
    import essentia

    essentia.log.infoActive = False  # before essentia.standard: "no classifier models configured"
    import essentia.standard as es
    import numpy as np

    sr = 44100
    t = np.arange(3 * sr) / sr
    signal = 0.2 * np.sin(2 * np.pi * 261.63 * t) + 0.2 * np.sin(2 * np.pi * 329.63 * t)
    signal[(np.arange(t.size) % (sr // 2)) < 200] += 0.5  # clicks at 120 BPM
    with _worker_tmpdir() as tmp:
        wav = os.path.join(tmp, "reference.wav")
        es.MonoWriter(filename=wav, format="wav", sampleRate=sr)(signal.astype(np.float32))
        _REFERENCE_KEYS[:] = list(flatten_pool(_extract(wav)))
    return {"pid": os.getpid(), "extractor": extractor_name(), "feature_count": len(_REFERENCE_KEYS)}


def analyze_file(path: str, raw: str, min_duration_s: float, expected: FileIdentity | None = None) -> dict[str, Any]:
    """MusicExtractor on one file -> features, highlights, timing. Raises AudioError for bad audio.

    Essentia reads a private copy (services.audio.files.snapshot), never `path` itself: the answer is
    the analysis of one whole file even if `path` is replaced or rewritten meanwhile. `expected`: the
    identity inspect_file saw, which the file must still have (else 409 file_changed)."""
    started = time.perf_counter()
    with _worker_tmpdir() as tmp:
        private = snapshot(Path(path), raw, expected, Path(tmp) / f"song{Path(path).suffix}")
        return _analyze_copy(str(private), raw, min_duration_s, started)


def _analyze_copy(path: str, raw: str, min_duration_s: float, started: float) -> dict[str, Any]:
    try:
        pool = _extract(path)
    except Exception as exc:  # Essentia raises RuntimeError with its own text
        message = str(exc).replace(path, raw)
        if "MetadataReader" not in message:
            raise _decoder_error(message, raw) from None
        # MusicExtractor reads tags with MetadataReader first, and that fails on containers TagLib
        # does not know although ffmpeg decodes them, e.g. the Ogg/FLAC that Essentia's own
        # MonoWriter writes for '.ogg' ("pcmMetadata cannot read files which are neither wav nor
        # aiff"). Then decode with AudioLoader into a temporary wav (deleted afterwards) and
        # extract from that; the audio is the same, metadata.audio_properties.* describe the wav.
        pool = _extract_via_wav(path, raw, message)
    decoded_s = float(pool["metadata.audio_properties.length"])
    problem = truncation_problem(Path(path), decoded_s)
    if problem:
        raise AudioError("corrupt_audio", f"'{raw}' is truncated or damaged: {problem}.", {"path": raw})
    if decoded_s < min_duration_s:
        raise AudioError(
            "audio_too_short",
            f"'{raw}' holds {decoded_s:.2f} s of audio; at least {min_duration_s:g} s are needed.",
            {"path": raw, "duration_s": decoded_s, "min_duration_s": min_duration_s},
        )
    flat = flatten_pool(pool)
    features, missing = conform(flat, _REFERENCE_KEYS or flat)
    if missing:
        log.warning("%s: %d descriptors missing, set to 0.0: %s", raw, len(missing), missing[:10])
    return {
        "features": features,
        "highlights": highlights_of(pool),
        "extractor": extractor_name(),
        "analysis_seconds": time.perf_counter() - started,
    }


def _extract_via_wav(path: str, raw: str, first_error: str) -> Any:
    import essentia.standard as es

    try:
        audio, rate, channels, *_ = es.AudioLoader(filename=path)()
    except Exception as exc:
        raise _decoder_error(str(exc).replace(path, raw), raw) from None
    if audio.shape[0] == 0:
        raise AudioError("corrupt_audio", f"'{raw}' holds no decodable audio.", {"path": raw, "decoder": first_error})
    with _worker_tmpdir() as tmp:
        wav = os.path.join(tmp, "decoded.wav")
        if channels == 1:
            es.MonoWriter(filename=wav, format="wav", sampleRate=rate)(audio[:, 0].copy())
        else:
            es.AudioWriter(filename=wav, format="wav", sampleRate=rate)(audio)
        try:
            return _extract(wav)
        except Exception as exc:
            raise _decoder_error(str(exc).replace(wav, raw), raw) from None


def _decoder_error(message: str, raw: str) -> AudioError:
    if "silent" in message:
        return AudioError("silent_audio", f"'{raw}' is completely silent; there is nothing to analyse.", {"path": raw})
    return AudioError(
        "corrupt_audio",
        f"'{raw}' looks like audio but cannot be decoded (damaged or truncated file).",
        {"path": raw, "decoder": message},
    )


# --- one request -----------------------------------------------------------------------------------


class WorkerPool(Protocol):
    """What a request needs of services.audio.pool.ExtractorPool. A protocol, not an import: the pool
    imports this module's worker functions, and the dependency must go one way only."""

    async def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float,
        label: str = "",
        client_gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> Any: ...


async def analyze_request(
    request: AudioAnalysisRequest,
    *,
    pool: WorkerPool | None,
    settings: AudioSettings,
    client_gone: Callable[[], Awaitable[bool]] | None = None,
) -> AudioAnalysisResponse:
    """The whole of POST /analyze/comprehensive; every failure is a ServiceError (-> error envelope).

    `client_gone` (the route passes Request.is_disconnected) lets the pool drop a request whose client left
    while it waited, before its Essentia run starts."""
    raw = request.song_path
    path = resolve_data_path(raw, settings.resolved_data_root(), kind="audio file")
    try:
        inspected = await asyncio.to_thread(inspect_file, path, raw, settings.max_file_bytes, settings.max_duration_s)
        if pool is None:
            raise Unavailable("The extractor pool is not running.", code="extractor_unavailable")
        result = await pool.run(
            analyze_file,
            str(path),
            raw,
            settings.min_duration_s,
            inspected.identity,
            timeout=settings.timeout_s,
            label=raw,
            client_gone=client_gone,
        )
    except AudioError as exc:
        raise exc.service_error() from None
    return AudioAnalysisResponse(
        song_id=request.song_id,
        features=result["features"],
        highlights=AudioHighlights(**result["highlights"]),
        feature_count=len(result["features"]),
        extractor=result["extractor"],
        analysis_seconds=result["analysis_seconds"],
    )
