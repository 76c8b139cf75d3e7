"""metricstore."""
