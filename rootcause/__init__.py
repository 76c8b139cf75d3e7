"""rootcause."""
