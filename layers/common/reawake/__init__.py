"""Reawake: dormant-lead detection, revisit alerts and step mail on AWS serverless.

Shared by every Lambda function, the CLI, the local stack and the tests.
"""
