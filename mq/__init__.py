"""metrics-quality: the `mq` command, its configuration and the pipeline that ties the stages together."""
__version__ = "0.1.0"
