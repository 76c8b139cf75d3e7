"""The append-only, hash-chained audit ledger: SOX evidence of every run, pull, check and alert decision.

    migrate(engine); lg = Ledger(engine); lg.install()   # metricstore.store.migrate creates the table
    rec = lg.append("check", "check:orders:2024-05-01", {"passed": True}, partition=date(2024, 5, 1))
    lg.verify()  # -> Verification(ok, count, head_hash, first_bad_seq, problem)
"""
from ledger.canonical import GENESIS_HASH
from ledger.chain import Verification
from ledger.errors import LedgerEntryError, LedgerExportError, LedgerNotInstalledError
from ledger.record import LedgerRecord
from ledger.store import Ledger

__all__ = [
    "GENESIS_HASH",
    "Ledger",
    "LedgerEntryError",
    "LedgerExportError",
    "LedgerNotInstalledError",
    "LedgerRecord",
    "Verification",
]
