"""Why a partition could not be read, in one line naming the file: corrupt or unreadable files and
text that is not valid UTF-8 (which Arrow refuses when Spark hands rows to Python).

Called only after a pull of the partition failed, so the per-file reads cost nothing on good days.
"""
from __future__ import annotations

MAX_FILES_CHECKED = 200  # a partition of more files gets the first failing file among these


def spark_reason(exc: BaseException) -> str:
    """One line from a Spark failure: the root Java cause, not "An error occurred while calling o62"."""
    java = getattr(exc, "java_exception", None)
    message = None
    while java is not None:
        try:
            message = java.getMessage() or message
            java = java.getCause()
        except Exception:  # the gateway is gone: keep what we have
            break
    text = (message or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def diagnose(spark, files: list[dict], fmt: str, text_columns: list[str]) -> str | None:
    """'<file>: <reason>' for the first file that cannot be read or holds non-UTF-8 text, else None."""
    from pyspark.sql import functions as F

    for entry in files[:MAX_FILES_CHECKED]:
        path = entry.get("file", "")
        if not path or path.startswith("<"):
            continue
        try:
            df = spark.read.format(fmt).load(path)
            present = [c for c in text_columns if c in df.columns]
            # is_valid_utf8 reads the bytes as stored; counting rows also decodes every data page
            checks = [F.count_if(~F.expr(f"is_valid_utf8(`{c}`)")).alias(c) for c in present]
            row = df.agg(F.count(F.lit(1)).alias("__rows"), *checks).first()
        except Exception as exc:
            return f"{path}: unreadable {fmt} file: {spark_reason(exc)}"
        bad = [f"{c} ({row[c]} row{'s' if row[c] != 1 else ''})" for c in present if row[c]]
        if bad:
            return f"{path}: text that is not valid UTF-8 in column {', '.join(bad)}"
    return None
