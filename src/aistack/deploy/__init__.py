"""Production deployment: serving slots and their store (slots.py), how a slot runs (runtimes.py),
blue-green and A/B switches (bluegreen.py), weighted sticky routing with failover (routing.py),
nginx's upstream config (nginx.py), rate limits (ratelimit.py) and the deploy report (report.py)."""
