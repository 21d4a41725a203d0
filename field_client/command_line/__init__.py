"""The command-line field client (`fieldsync record`, `records`, `sync`, `status`) for
laptops and scripts, over a local SqliteStore."""
