"""06: the updates the event log has recorded."""


def solve(lab):
    return "SELECT count(DISTINCT origin.update_id) FROM pipeline_event_log"
