"""What a pipeline run tells about itself: lineage, event log, reports."""
