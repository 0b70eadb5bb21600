"""The web console and JSON API: thin pages and endpoints over the use cases."""
