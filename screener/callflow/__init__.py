"""The call flow: a pure state machine (:mod:`machine`) and the ARI adapter that runs it."""
