"""Locust load profiles."""
