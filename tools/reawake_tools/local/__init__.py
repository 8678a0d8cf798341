"""The local stack: template.yaml's resources on an embedded moto emulator, no Docker, no account."""
