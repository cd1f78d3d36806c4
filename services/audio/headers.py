"""What an audio file's first and last bytes say: the container, and how long the audio claims to be.

Pure functions on bytes (plus `truncation_problem`, which reads a file), cheap enough to run before any
decoding. Two uses:
  * before decoding (services.audio.files.inspect_file): refuse a WAV whose header declares more audio
    than the file can hold, and audio longer than HSS_AUDIO_MAX_DURATION_S, without spending a worker;
  * after decoding (services.audio.extractor.analyze_file): a file that decodes to less than its header
    declares was cut short.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

HEAD_BYTES = 65536  # enough for the headers (and an ID3 tag without big cover art)
UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)  # written by a streaming encoder that never knew the size (or RF64)
MIN_MP3_BITRATE = 8000  # bit/s: MPEG-2.5 Layer III's lowest, so no MP3 holds more seconds than bytes * 8 / this
_MP3_KBPS = {  # Layer III bitrate index -> kbit/s; MPEG-1, and MPEG-2 / 2.5
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def sniff_format(head: bytes) -> str | None:
    """Container named by the magic bytes (content wins over the extension; ffmpeg decodes by content)."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


# --- WAV -------------------------------------------------------------------------------------------


class WavLayout(NamedTuple):
    byte_rate: int  # from the fmt chunk (0: none before the data chunk)
    data_offset: int  # where the samples start
    data_size: int | None  # what the data chunk declares (None: unknown, see UNKNOWN_WAV_SIZES)


def wav_layout(head: bytes) -> WavLayout | None:
    """The fmt byte rate and the data chunk of a RIFF/WAVE header; None when the data chunk is not in `head`."""
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 20 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16 : pos + 20], "little")
        if chunk == b"data":
            return WavLayout(byte_rate, pos + 8, None if size in UNKNOWN_WAV_SIZES else size)
        pos += 8 + size + (size & 1)
    return None


def wav_overclaim(head: bytes, file_size: int) -> tuple[float, float] | None:
    """(declared s, held s) when the data chunk declares more bytes than follow it in the file; else None."""
    layout = wav_layout(head)
    if not layout or not layout.byte_rate or layout.data_size is None:
        return None
    held = max(0, file_size - layout.data_offset)
    if layout.data_size <= held:
        return None
    return layout.data_size / layout.byte_rate, held / layout.byte_rate


def _wav_seconds(head: bytes, file_size: int | None) -> float | None:
    """What the header declares; with `file_size`, no more than the bytes after the header can hold."""
    layout = wav_layout(head)
    if not layout or not layout.byte_rate:
        return None
    sizes = [s for s in (layout.data_size, None if file_size is None else file_size - layout.data_offset) if s]
    return max(0, min(sizes)) / layout.byte_rate if sizes else None


# --- FLAC, MP3, Ogg ----------------------------------------------------------------------------------


def _streaminfo(head: bytes, at: int = 0) -> tuple[int, int] | None:
    """(sample rate, total samples) of the STREAMINFO after the 'fLaC' marker at `at`."""
    if len(head) < at + 26 or head[at + 4] & 0x7F != 0 or head[at + 5 : at + 8] != b"\x00\x00\x22":
        return None  # the first metadata block must be STREAMINFO (type 0, 34 bytes): else noise, not a header
    bits = int.from_bytes(head[at + 18 : at + 26], "big")  # 20 bits rate, 3+5 bits, 36 bits total samples
    return bits >> 44, bits & ((1 << 36) - 1)


def _flac_seconds(head: bytes) -> float | None:
    rate, samples = _streaminfo(head) or (0, 0)
    return samples / rate if rate and samples else None


def _mp3_first_frame(head: bytes) -> int:
    return 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10])) if head[:3] == b"ID3" else 0


def _mp3_rate(frame: bytes) -> tuple[int, int]:
    version = (frame[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    rate = (44100, 48000, 32000, 0)[(frame[2] >> 2) & 3] // {3: 1, 2: 2, 0: 4}.get(version, 1)
    return version, rate


def _mp3_xing_seconds(head: bytes) -> float | None:
    """The frame count of a LAME/Lavf 'Xing'/'Info' header (when flags & 1), in seconds."""
    frame = head[_mp3_first_frame(head) :][:200]
    tag = max(frame.find(b"Xing"), frame.find(b"Info"))
    if len(frame) < 4 or frame[0] != 0xFF or tag < 0 or len(frame) < tag + 12 or not frame[tag + 7] & 1:
        return None
    version, rate = _mp3_rate(frame)
    frames = int.from_bytes(frame[tag + 8 : tag + 12], "big")
    return frames * (1152 if version == 3 else 576) / rate if rate else None


def _mp3_cbr_seconds(head: bytes, file_size: int) -> float | None:
    """Bytes after the tag at the first Layer III frame's bitrate (exact for constant bitrate)."""
    start = _mp3_first_frame(head)
    frame = head[start : start + 4]
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0 or (frame[1] >> 1) & 3 != 1:
        return None
    version = (frame[1] >> 3) & 3
    kbps = _MP3_KBPS[3 if version == 3 else 2][min(frame[2] >> 4, 14)]
    return (file_size - start) * 8 / (kbps * 1000) if kbps else None


def _mp3_seconds(head: bytes, file_size: int) -> float | None:
    declared = _mp3_xing_seconds(head) or _mp3_cbr_seconds(head, file_size)
    # A frame count is only a claim; no MP3 holds more than its bytes at the lowest bitrate.
    return min(declared, file_size * 8 / MIN_MP3_BITRATE) if declared else None


def _ogg_rate(head: bytes) -> int | None:
    if (at := head.find(b"\x01vorbis")) >= 0 and len(head) >= at + 16:
        return int.from_bytes(head[at + 12 : at + 16], "little") or None
    if head.find(b"OpusHead") >= 0:
        return 48000  # Opus granules always count 48 kHz samples
    if (at := head.find(b"fLaC")) >= 0 and (info := _streaminfo(head, at)):  # FLAC in Ogg
        return info[0] or None
    return None


def _ogg_seconds(head: bytes, tail: bytes) -> float | None:
    """The granule position (samples) of the last page over the stream's sample rate."""
    last, rate = tail.rfind(b"OggS"), _ogg_rate(head)
    if last < 0 or len(tail) < last + 14 or not rate:
        return None
    granule = int.from_bytes(tail[last + 6 : last + 14], "little", signed=True)
    return granule / rate if granule > 0 else None


def estimated_seconds(head: bytes, tail: bytes, file_size: int) -> float | None:
    """How long the audio is by its headers, bounded by the file size where the format allows; None: unknown.

    WAV: the data size over the byte rate (never more than the file holds); FLAC: STREAMINFO; MP3: the
    Xing frame count or the constant bitrate; Ogg: the last granule position."""
    kind = sniff_format(head)
    if kind == "wav":
        return _wav_seconds(head, file_size)
    if kind == "flac":
        return _flac_seconds(head)
    if kind == "mp3":
        return _mp3_seconds(head, file_size)
    if kind == "ogg":
        return _ogg_seconds(head, tail)
    return None


# --- after decoding ------------------------------------------------------------------------------------


def truncation_problem(path: Path, decoded_s: float) -> str | None:
    """Why the file looks cut short, judged by what its header declares (None when complete or unknown)."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
        fh.seek(max(0, path.stat().st_size - HEAD_BYTES))
        tail = fh.read()
    kind, declared = sniff_format(head), None
    if kind == "ogg":
        last = tail.rfind(b"OggS")
        if last < 0 or len(tail) < last + 6 or not tail[last + 5] & 0x04:  # no end-of-stream page
            return "the Ogg stream has no end-of-stream page"
    elif kind == "wav":
        declared = _wav_seconds(head, None)
    elif kind == "flac":
        declared = _flac_seconds(head)
    elif kind == "mp3":
        declared = _mp3_xing_seconds(head)
    if declared and decoded_s < declared * 0.98 - 0.1:
        return f"the header declares {declared:.2f} s of audio but only {decoded_s:.2f} s could be decoded"
    return None
