"""The tablet and station-hub application (a later issue).

`field_client` may import `sync` and `schemas`; it must not repeat what they own.
"""
