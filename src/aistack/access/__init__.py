"""Teams and access: the principals' store (teams, users, keys, shares) and the service that
turns a Bearer token into a Principal (aistack/principals.py) and runs the admin's changes."""
