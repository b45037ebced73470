# Databricks notebook source
# MAGIC %md
# MAGIC # Produce clickstream events into the landing volume
# MAGIC
# MAGIC The first task of the `clickstream` job (resources/clickstream.job.yml). It lands seeded
# MAGIC NDJSON event files in the Unity Catalog volume that the pipeline's bronze layer reads;
# MAGIC the job's next task refreshes the pipeline.
# MAGIC
# MAGIC It installs nothing: the producer is plain Python, deployed with the bundle's files, so
# MAGIC the bundle root goes on `sys.path`. A run with the same seed writes the same files, so a
# MAGIC retried task adds nothing twice; use a new seed to land new events.

# COMMAND ----------

# `events`, `seed` and `batches` are job parameters; the job passes the other two.
dbutils.widgets.text("events", "1000", "Events")
dbutils.widgets.text("seed", "7", "Seed")
dbutils.widgets.text("batches", "1", "Batches (files)")
dbutils.widgets.text("volume_path", "", "Landing volume path (/Volumes/...)")
dbutils.widgets.text("bundle_root", "", "Bundle files folder")

events = int(dbutils.widgets.get("events"))
seed = int(dbutils.widgets.get("seed"))
batches = int(dbutils.widgets.get("batches"))
volume_path = dbutils.widgets.get("volume_path").strip()
bundle_root = dbutils.widgets.get("bundle_root").strip()

if not volume_path:
    raise ValueError("volume_path is empty: the job passes the landing volume's path")
if events <= 0:
    raise ValueError(f"events must be positive, got {events}")

# COMMAND ----------

import sys

# The bundle's files hold producer/ (stdlib only) and src/clickstream.
for folder in (f"{bundle_root}/src", bundle_root):
    if bundle_root and folder not in sys.path:
        sys.path.insert(0, folder)

import producer

# COMMAND ----------

result = producer.produce(
    events=events,
    seed=seed,
    sink=volume_path,
    batches=batches,
    clean=False,
)
# A retry with the same seed finds its files already there ("already present"): nothing doubles.
print(result.summary())
