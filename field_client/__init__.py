"""What volunteers record with: the tablet app (`web/`, served by `tablet_app`) and the
command-line field client (`command_line`).

`field_client` may import `sync` and `schemas`; it must not import `server`, and it
does not repeat what they own.
"""
