"""Screener: call screening for office phone systems built on Asterisk."""

__version__ = "0.1.0"
