"""Tests of skultr.recommendation."""
