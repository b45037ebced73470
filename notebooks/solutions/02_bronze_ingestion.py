"""02: bronze rows that hold a corrupt record."""


def solve(lab):
    return "SELECT count(*) AS corrupt_rows FROM bronze_events WHERE _corrupt_record IS NOT NULL"
