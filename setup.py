"""Packaging glue: ship the top-level Alembic chain inside the package as screener.migrations."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["screener", "screener.*"]),
        "screener.migrations",
        "screener.migrations.versions",
    ],
    package_dir={"screener.migrations": "migrations"},
    package_data={
        "screener": ["py.typed", "web/templates/**/*", "web/static/**/*", "demo/*.yaml"],
        "screener.migrations": ["script.py.mako"],
    },
)
