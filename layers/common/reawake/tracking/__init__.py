"""Tracking: the public HTTP API (routes), recording what visitors and leads do (recording), SES
feedback, the OpenAPI document."""
