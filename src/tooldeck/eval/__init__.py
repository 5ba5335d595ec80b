"""Evaluation harnesses (APIBench)."""
