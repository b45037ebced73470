"""Pure DataFrame -> DataFrame transforms used by the pipeline definitions.

Nothing here declares a dataset, so every function can be imported and unit-tested (or shown in
a notebook) outside a pipeline run.
"""
