"""Helpers for the workspace's multi-process tests (not installed; used from conftest.py)."""
