"""Operations: what ``/healthz`` and ``/metrics`` report, read straight from the components."""
