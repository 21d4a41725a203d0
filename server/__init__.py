"""The county server: the `fieldsync` command now; the Flask gateway (issue 4) next.

`server` may import `sync` and `schemas`; nothing imports `server`.
"""
