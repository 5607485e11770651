"""Production deployment: rate limits (ratelimit.py); slots, blue-green and A/B routing to come."""
