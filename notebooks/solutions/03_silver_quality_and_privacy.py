"""03: quarantined rows per failed drop rule."""


def solve(lab):
    return """
        SELECT rule, count(*) AS rows
        FROM silver_quarantine LATERAL VIEW explode(failed_rules) failed AS rule
        GROUP BY rule
    """
