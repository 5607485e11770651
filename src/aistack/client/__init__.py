"""What the CLI talks to, one pair per feature: a running gateway over HTTP (`Gateway*`), or the
services in this process (`InProcess*` / `Local*`). Both give the same shapes.

http.py is the one way to a gateway (auth, errors, SSE); portal.py the one way from sync code to
async code."""
