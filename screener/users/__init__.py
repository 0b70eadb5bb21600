"""Console users: accounts, passwords, API tokens, and their use cases."""
