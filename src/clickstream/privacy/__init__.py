"""Privacy operations on the local lakehouse: the right to erasure (``clickstream forget-user``)."""
