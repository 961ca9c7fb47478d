"""The partner API, /api/v1/: thin views over hashbank.feed, selectors and services."""
