"""Stage 5: open incidents for the partition's new notified alert groups, then certify (or revoke) each
metric's partition (`status.certify`)."""
from __future__ import annotations

import datetime as dt


def run_certification(pipe, partition: dt.date) -> dict[str, str]:
    from status.certify import certify_partition

    pipe.incidents.sync(pipe)
    return certify_partition(pipe, partition)
