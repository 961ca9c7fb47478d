"""gunicorn settings for production (imageshield-web.service). Environment overrides:
GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# Threads let a worker waiting on the database or Redis serve another request meanwhile.
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = 30
graceful_timeout = 20
# Bodies are fingerprints, never media: the site refuses anything large anyway.
limit_request_line = 4096
accesslog = "-"
# Path without its query string (%(U)s), and no Referer or User-Agent: welcome links carry
# their key in the query string, and a log is no place for who a survivor is.
access_log_format = '%(h)s [%(t)s] "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1,::1")
