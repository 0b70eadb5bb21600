"""The one call path, shared by the ARI flow and FastAGI.

- :mod:`facts` turns what Asterisk says about a channel into call facts;
- :mod:`screening` decides (lists, caller history, the pure policy);
- :mod:`desk` takes a call: decision, challenge digit, record and events, outcome;
- :mod:`recorder` writes the records in the background and publishes the events;
- :mod:`machine` and :mod:`ari_flow` run a call over ARI, :mod:`agi_flow` over FastAGI;
- :mod:`queries` reads calls back, :mod:`service` holds the use cases on a call
  (review, block or allow its number).
"""
