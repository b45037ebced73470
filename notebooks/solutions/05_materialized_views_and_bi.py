"""05: total revenue over all orders, from the BI view."""


def solve(lab):
    return "SELECT sum(revenue) FROM mv_revenue_daily"
