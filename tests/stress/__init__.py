"""Stress tests: many concurrent real helper processes checked against a model."""
