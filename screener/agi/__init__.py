"""FastAGI: screening for PBXes that keep call control in their dialplan (FreePBX)."""

from screener.agi.server import run_agi_server, start_agi_server

__all__ = ["run_agi_server", "start_agi_server"]
