"""The audit log: who changed what, from where (web, API, CLI, phone), and when."""
