"""The station hub (issue 13): the county's gateway configured for one station, and its
link to the county (upstream.py)."""
