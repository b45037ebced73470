"""Lakeflow Clickstream: a clickstream lakehouse on Spark Declarative Pipelines."""

__version__ = "0.1.0"
