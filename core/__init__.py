"""What every package of metrics-quality shares and that depends on none of them: the typed config specs
(`config`, with the metric SQL confinement in `expressions`), the one exception hierarchy (`errors`),
time helpers (`timeutil`) and the crash points of the chaos tests (`faults`)."""
