"""Collection snapshots in S3-compatible storage (MinIO, AWS), kept 7 daily and 4 weekly."""
