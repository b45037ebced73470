"""Deployment to Databricks: reading the Asset Bundle, checking it offline, driving it remotely.

* ``bundle``     — load databricks.yml and its includes, resolve one target the way the Databricks
                   CLI does (variables, target overrides, development-mode names, references).
* ``schema``     — the strict schema of the bundle's top-level mappings.
* ``validate``   — every offline check of the bundle: schema, typed resources, references, paths.
* ``governance`` — each group's effective Unity Catalog privileges from the bundle's grants.
* ``remote``     — the Databricks SDK calls behind ``clickstream databricks``.
* ``events``     — reading errors and expectation metrics out of pipeline events.
"""
