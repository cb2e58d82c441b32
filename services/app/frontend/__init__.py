"""The web front end: server-rendered pages over the backend's REST API (port 8080)."""
