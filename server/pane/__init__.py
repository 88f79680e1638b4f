"""The services behind the task pane's JSON API (server/api/pane.py keeps the views thin):
input validation, suggestions, saves, thread auto-save, records, the status line."""
