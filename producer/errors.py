"""Errors the producer raises on purpose: each carries a one-line message fit for a user."""

from __future__ import annotations


class ProducerError(ValueError):
    """Bad input or settings (a ``ValueError`` so notebook callers can catch it generically)."""


class SinkError(ProducerError):
    """A sink could not store a file (unreachable, refused, misconfigured)."""


class SinkConflict(SinkError):
    """A file of the same name already exists with different content; it is never overwritten."""
