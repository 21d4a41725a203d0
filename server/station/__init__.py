"""The station page: what a station lead checks at the hub in the evening (page.py serves
it, summary.py gathers it)."""
