"""04: users whose current dim_user version has tier 'gold'."""


def solve(lab):
    return "SELECT count(*) FROM dim_user WHERE __END_AT IS NULL AND tier = 'gold'"
