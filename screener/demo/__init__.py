"""A PBX simulator for ``screener demo`` and the tests: a fake Asterisk speaking real ARI."""
