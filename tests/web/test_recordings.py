"""The caller's recorded name: a player, or exactly why not; from a file or through ARI."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from screener.demo.fake_asterisk import FakeAsterisk, wav_tone
from screener.recordings import recording_status
from screener.settings import Settings
from screener.web.app import create_app
from tests.support.calls import record_call
from tests.web.conftest import SignedIn, WebApp, client_for, login

NOBODY = 65534


async def _call_with(webapp: WebApp, recording: str | None) -> str:
    return await record_call(
        webapp.database,
        webapp.screening,
        "anonymous",
        "Caller",
        outcome="connected",
        recording=recording,
    )


async def test_no_recording_says_so(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await _call_with(webapp, None)
    page = await desk.client.get(f"/calls/{call_id}")
    assert "<audio" not in page.text
    assert "No recording for this call." in page.text


async def test_missing_file_names_the_path_looked_for(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await _call_with(webapp, "screener-gone")
    page = await desk.client.get(f"/calls/{call_id}")
    base = Path(webapp.settings.ari.recordings_dir).resolve()
    assert "<audio" not in page.text
    assert "not under ari.recordings_dir" in page.text
    assert str(base / "screener-gone.wav") in page.text
    assert (await desk.client.get(f"/calls/{call_id}/recording")).status_code == 404


async def test_unsafe_name_is_refused(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await _call_with(webapp, "../secret")
    page = await desk.client.get(f"/calls/{call_id}")
    assert "not a safe file name" in page.text
    assert (await desk.client.get(f"/calls/{call_id}/recording")).status_code == 404


async def test_file_served_with_a_player(webapp: WebApp, desk: SignedIn) -> None:
    audio = wav_tone(0.3)
    (Path(webapp.settings.ari.recordings_dir) / "screener-here.wav").write_bytes(audio)
    call_id = await _call_with(webapp, "screener-here")
    page = await desk.client.get(f"/calls/{call_id}")
    assert f'<audio controls preload="none" src="/calls/{call_id}/recording">' in page.text
    served = await desk.client.get(f"/calls/{call_id}/recording")
    assert served.status_code == 200 and served.content == audio


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A recordings directory another user can reach (pytest's own are private)."""
    path = Path(tempfile.mkdtemp(prefix="screener-rec-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_unreadable_file_says_it_cannot_be_read(shared_dir: Path) -> None:
    (shared_dir / "screener-locked.wav").write_bytes(wav_tone(0.2))
    (shared_dir / "screener-locked.wav").chmod(0o600)
    settings = Settings()
    settings.ari.recordings_dir = str(shared_dir)
    os.seteuid(NOBODY)  # the service's user, who may not read Asterisk's files
    try:
        status = recording_status(settings, "screener-locked")
    finally:
        os.seteuid(0)
    assert not status.playable
    assert "exists but Screener cannot read it" in status.why
    assert str(shared_dir / "screener-locked.wav") in status.why
    assert recording_status(settings, "screener-locked").playable  # root may


@pytest.fixture
async def pbx() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk("screener", "ari secret") as fake:
        yield fake


def _through_ari(webapp: WebApp, pbx: FakeAsterisk, password: str = "ari secret") -> WebApp:
    settings = webapp.settings.model_copy(deep=True)
    settings.ari.url = pbx.url
    settings.ari.password = SecretStr(password)
    settings.ari.recordings_dir = ""
    app = create_app(settings, webapp.database, webapp.screening, webapp.bus)
    return WebApp(app, settings, webapp.database, webapp.screening, webapp.bus, webapp.policy)


async def test_recording_fetched_through_ari(webapp: WebApp, pbx: FakeAsterisk) -> None:
    audio = pbx.store_recording("screener-remote", "wav", 1.5)
    call_id = await _call_with(webapp, "screener-remote")
    missing = await _call_with(webapp, "screener-never")
    remote = _through_ari(webapp, pbx)
    async with client_for(remote) as client:
        await login(client, "desk")
        page = await client.get(f"/calls/{call_id}")
        assert f'src="/calls/{call_id}/recording"' in page.text
        served = await client.get(f"/calls/{call_id}/recording")
        assert served.status_code == 200
        assert served.headers["content-type"] == "audio/wav"
        assert served.content == audio and served.content[:4] == b"RIFF"
        gone = await client.get(f"/calls/{missing}")
        assert "<audio" not in gone.text
        assert "has no stored recording named screener-never" in gone.text
        assert (await client.get(f"/calls/{missing}/recording")).status_code == 404
    fetched = [r for r in pbx.requests if r.path.endswith("/file")]
    assert [(r.path, r.status) for r in fetched] == [
        ("/ari/recordings/stored/screener-remote/file", 200),
        ("/ari/recordings/stored/screener-never/file", 404),
    ]


async def test_ari_refusing_the_user_is_explained(webapp: WebApp, pbx: FakeAsterisk) -> None:
    pbx.store_recording("screener-remote")
    call_id = await _call_with(webapp, "screener-remote")
    async with client_for(_through_ari(webapp, pbx, password="wrong")) as client:
        await login(client, "desk")
        page = await client.get(f"/calls/{call_id}")
        assert "refused the ARI user" in page.text
        assert "wrong" not in page.text


async def test_ari_down_is_explained(webapp: WebApp, pbx: FakeAsterisk) -> None:
    call_id = await _call_with(webapp, "screener-remote")
    remote = _through_ari(webapp, pbx)
    await pbx.stop()
    async with client_for(remote) as client:
        await login(client, "desk")
        page = await client.get(f"/calls/{call_id}")
        assert "Asterisk could not be reached" in page.text


def test_fake_asterisk_serves_a_valid_wav() -> None:
    import io
    import wave

    with wave.open(io.BytesIO(wav_tone(0.5))) as audio:
        assert (audio.getnchannels(), audio.getframerate(), audio.getnframes()) == (1, 8000, 4000)


async def test_unknown_setting_combination_says_where_to_fetch(webapp: WebApp) -> None:
    settings = webapp.settings.model_copy(deep=True)
    settings.ari.recordings_dir = ""
    settings.ari.url = ""
    status = recording_status(settings, "screener-x")
    assert not status.playable and "ari.url is not set" in status.why
    assert isinstance(httpx.__version__, str)
