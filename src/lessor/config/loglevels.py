"""The server's log levels: one list for `--log-level` and server.yaml's `loglevel`.

Its own module so that the `lessor` command's options need no pydantic at start.
"""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
