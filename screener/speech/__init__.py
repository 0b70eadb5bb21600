"""Speech to text for the caller's recorded name and reason, and claims of authority in it.

- :mod:`screener.speech.claims`: the pure matcher (``find_claims``, ``claim_advice``);
- :mod:`screener.speech.model`: finding and loading a faster-whisper model;
- :mod:`screener.speech.audio`: decoding recordings and fetching them from Asterisk;
- :mod:`screener.speech.transcriber`: the worker-process pool the service uses.

Its settings are ``[speech]``, ``screener.settings.SpeechSettings``. Nothing here imports
faster-whisper until a worker process needs it; the optional extra ``screener[speech]``
brings it in.
"""
