"""The caller's recorded name/reason, served by the recording name on the call."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

RECORDING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,150}(\.[A-Za-z0-9]{1,8})?$")
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".wav16": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".gsm": "audio/x-gsm",
    ".ulaw": "audio/basic",
    ".sln": "audio/L16",
}


def recording_path(recordings_dir: str, name: str | None, default_format: str) -> Path | None:
    """The file for ``name`` inside ``recordings_dir``, or None (bad name, missing file)."""
    if not name or not RECORDING_NAME.match(name):
        return None
    base = Path(recordings_dir).resolve()
    candidates = [name]
    if "." not in name and re.fullmatch(r"[A-Za-z0-9]{1,8}", default_format or ""):
        candidates.append(f"{name}.{default_format}")
    for candidate in candidates:
        path = (base / candidate).resolve()
        if path.parent == base and path.is_file():
            return path
    return None


def media_type(path: Path) -> str:
    return AUDIO_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
