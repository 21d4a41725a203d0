"""The Python side of the tablet app: building its assets and serving them at /app/
(the app itself is the browser code in field_client/web/)."""
