"""The tunable policy: built from the settings file and the run-time overrides an admin sets."""
