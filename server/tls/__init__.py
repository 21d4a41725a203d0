"""HTTPS for station hubs on a LAN: the county's certificate authority (authority.py)."""
