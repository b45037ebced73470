"""``clickstream forget-user USER_ID [--vacuum]``: the right to erasure on the local lakehouse."""

from __future__ import annotations

import argparse

from clickstream.config import LocalSettings, PipelineSettings


def cmd_forget_user(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream.engine import EngineError, Lakehouse
    from clickstream.locks import FileLock, LockBusy
    from clickstream.privacy.erasure import forget_user
    from clickstream.query import use_database
    from clickstream.runner import key_file, write_key_file
    from clickstream.transforms import pii

    storage = settings.pipeline_storage()
    # The key silver was keyed with: the file `clickstream run` wrote, else the default it uses.
    if key_file(storage).is_file():
        key = pii.key_from_text(key_file(storage).read_text("utf-8"))
    else:
        key = PipelineSettings(landing_path=str(settings.landing)).pii_key
    storage.mkdir(parents=True, exist_ok=True)
    try:
        # An update running meanwhile could write the user's rows again: erase between updates.
        lock = FileLock(storage / "run.lock").acquire({"kind": "forget-user"})
    except LockBusy as busy:
        raise EngineError(
            f"an update of the pipeline on database {settings.database!r} is running (process "
            f"{busy.holder.get('pid', '?')}); forget-user runs between updates"
        ) from None
    with lock, Lakehouse.open(settings) as lakehouse:
        use_database(lakehouse.spark, settings.database)
        forget_user(
            lakehouse.spark,
            settings.database,
            settings.landing,
            args.user_id,
            key,
            vacuum=args.vacuum,
            emit=lambda line: print(line, flush=True),
            # Spark reads the key from the file: no query of the erasure holds it.
            key_file=write_key_file(storage, key),
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    forget = sub.add_parser(
        "forget-user", help="erase a user from every table and the landing zone"
    )
    forget.add_argument("user_id", help="the user's raw id, as in the events (user.user_id)")
    forget.add_argument(
        "--vacuum",
        action="store_true",
        help="also VACUUM RETAIN 0 HOURS the changed tables (ends time travel to older versions)",
    )
    forget.set_defaults(func=cmd_forget_user)
