"""The county server: the Flask gateway each tablet and hub replicates with, the
staff views, and the `fieldsync` command.

`server` may import `sync` and `schemas`; nothing imports `server`.
"""
