"""FastAGI: the wire protocol and the server (the scripts are in ``screener.calls.agi_flow``)."""
