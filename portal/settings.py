"""Settings for the whole site, read from the environment.

The embedded default (no environment at all) is SQLite plus in-process jobs, which is what
`make run` uses. Production sets DATABASE_URL (PostgreSQL), REDIS_URL, SECRET_KEY and
ALLOWED_HOSTS; the code paths are the same on both.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.static_headers import add_static_headers

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# A development key is used when none is given so `make run` needs no set-up. It carries
# Django's "django-insecure-" prefix on purpose: `check --deploy` flags it, so a
# production deployment without a real SECRET_KEY fails its pre-flight check.
SECRET_KEY = os.environ.get("SECRET_KEY") or "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # The admin's default site is an OTPAdminSite: service staff need a verified second
    # factor there too, and every app's admin.register(...) lands on it unchanged.
    "portal.caseworkers.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "django_rq",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "hashbank",
    "portal",
    "portal.caseworkers",
]

MIDDLEWARE = [
    # /livez and /readyz, before host validation and the HTTPS redirect (portal.health).
    "portal.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A partner key over its rate limit is refused here, before sessions, CSRF or the database
    # (hashbank.api.ratelimit): a flood of refusals must cost next to nothing.
    "hashbank.api.ratelimit.PartnerRateLimitMiddleware",
    # No endpoint accepts media: any body other than a form or JSON (multipart above all) is
    # refused with 415 before a view runs.
    "portal.survivor.middleware.RefuseMediaMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Caseworker sessions end after 30 idle minutes or 12 hours.
    "portal.caseworkers.middleware.SessionLimitsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # django-axes wants to be last
]

# The partner API's own pool (imageshield-partner.service) runs with PORTAL_ROLE=partner: nginx
# sends it /api/v1/ only, so it needs none of the pages' machinery (sessions, CSRF, logins, the
# second factor, messages, static files, the CSP for HTML). Without it a hosted lookup costs
# about a third less CPU (docs/platforms.md, "How fast"), and the pool cannot serve a survivor
# or caseworker page even if a request reaches it: its URLs are /api/v1/ alone
# (portal.urls_partner). CommonMiddleware stays: it validates the Host header.
PARTNER_MIDDLEWARE = [
    "portal.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "hashbank.api.ratelimit.PartnerRateLimitMiddleware",
    "portal.survivor.middleware.RefuseMediaMiddleware",
    "django.middleware.common.CommonMiddleware",
]
PORTAL_ROLE = os.environ.get("PORTAL_ROLE", "site").strip().lower() or "site"
if PORTAL_ROLE not in ("site", "partner"):
    raise ImproperlyConfigured(f"PORTAL_ROLE must be 'site' or 'partner', not {PORTAL_ROLE!r}")

ROOT_URLCONF = "portal.urls"
if PORTAL_ROLE == "partner":
    MIDDLEWARE = PARTNER_MIDDLEWARE
    ROOT_URLCONF = "portal.urls_partner"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.site",
            ],
        },
    },
]

# --- Data -----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Jobs -----------------------------------------------------------------------------
# With REDIS_URL set, jobs go to django-rq queues and an `rqworker` runs them. Without it
# (the embedded default) they run in-process right after the transaction commits, so
# `make run` needs no Redis. hashbank.queueing is the single switch.
REDIS_URL = os.environ.get("REDIS_URL", "")
JOBS_IN_PROCESS = not REDIS_URL
RQ_QUEUES = {
    "default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 900},
}

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # One process under `make run`, so a process-local cache is shared by every request.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español"), ("ar", "العربية")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "portal.storage.StaticStorage"},
}
# Scripts carry their own CSP, which is what governs them when they run as Web Workers (the
# fingerprinting worker may compile WebAssembly and may make no request at all).
WHITENOISE_ADD_HEADERS_FUNCTION = add_static_headers

# --- Security headers -----------------------------------------------------------------
# No inline script or style anywhere: every page works under this policy. blob: is for
# previews of files that never leave the device; the Web Worker is a same-origin module.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Client addresses (portal.clientaddr: the one function every throttle uses) ---------------
# Behind a TLS proxy, X-Forwarded-For is believed only from these peers (addresses or networks,
# comma-separated), and only entries that parse as IP addresses. The default is a proxy on the
# same host; list your load balancers' addresses when they sit elsewhere.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "127.0.0.1,::1")
for _network in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_network!r} is not an address or network") from _error

if not DEBUG:
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    if BEHIND_TLS_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Service --------------------------------------------------------------------------
SERVICE_NAME = os.environ.get("SERVICE_NAME", "Image Shield")
# Where the quick-exit control goes: a neutral, busy site that explains nothing.
QUICK_EXIT_URL = os.environ.get("QUICK_EXIT_URL", "https://www.bbc.co.uk/weather")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request logs would carry paths and addresses; keep Django's own at warning.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# --- Caseworkers ----------------------------------------------------------------------
# Helpline staff sign in with a password and a mandatory second factor (django-otp), are
# throttled by django-axes, and their sessions end after 30 idle minutes or 12 hours.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "caseworkers:sign_in"
CASEWORKER_IDLE_TIMEOUT = timedelta(minutes=30)
CASEWORKER_ABSOLUTE_TIMEOUT = timedelta(hours=12)
# A password that has not been used for 5 minutes must be entered again before the code.
CASEWORKER_PENDING_SIGN_IN = timedelta(minutes=5)
# Notes can be corrected by their author for 15 minutes; after that they are the record.
CASEWORKER_NOTE_EDIT_WINDOW = timedelta(minutes=15)
# Django's CommonPasswordValidator already bundles 20,000 passwords from breach corpora; this
# adds the words an attacker would try first against a helpline (the service and its terms).
AUTH_PASSWORD_VALIDATORS += [{"NAME": "portal.caseworkers.passwords.ServiceWordsValidator"}]
# Five wrong passwords from one address, or for one account, lock further tries for 15
# minutes. Per account as well as per address so a spread-out guesser is stopped too; the
# lock is short so an attacker cannot keep a caseworker out for long.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "caseworkers/locked_out.html"
# Stored attempt data and logs never carry passwords or one-time codes.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "token", "code"]
AXES_VERBOSE = False
# Shown in the authenticator app next to the caseworker's name.
OTP_TOTP_ISSUER = SERVICE_NAME
# Axes' log lines name the address only, never the username typed (it is sometimes a password).
AXES_CLIENT_STR_CALLABLE = "portal.caseworkers.signin.axes_client_str"
# The real client behind the proxy (not the proxy itself), IPv6 by /64.
AXES_CLIENT_IP_CALLABLE = "portal.clientaddr.client_address"

# --- Feed -----------------------------------------------------------------------------
# The signed partner feed (hashbank.feed, docs/feed.md). Signing keys are stored encrypted
# under a key derived from FEED_KEY_SECRET; set it apart from SECRET_KEY in production so
# rotating one does not lose the other.
FEED_KEY_SECRET = os.environ.get("FEED_KEY_SECRET") or SECRET_KEY
FEED_SNAPSHOT_DIR = Path(os.environ.get("FEED_SNAPSHOT_DIR", BASE_DIR / "media" / "feed-snapshots"))
# Full feed pages near the head, signed, kept in Redis for every web process
# (hashbank.feed.pagecache): pages ending within this many entries of the head, each for this
# many seconds. 0 seconds turns it off; the embedded mode (no Redis) never caches.
FEED_PAGE_CACHE_SECONDS = int(os.environ.get("FEED_PAGE_CACHE_SECONDS", "600"))
FEED_PAGE_CACHE_ENTRIES = int(os.environ.get("FEED_PAGE_CACHE_ENTRIES", "100000"))
# Behind the shipped nginx: snapshot files are sent by nginx from this internal location
# (X-Accel-Redirect; deploy/nginx/imageshield.conf), not streamed by a web worker. Empty: the
# worker streams the file (`make run`, or no nginx in front). Must start and end with "/".
FEED_SNAPSHOT_ACCEL_PREFIX = os.environ.get("FEED_SNAPSHOT_ACCEL_PREFIX", "")
if FEED_SNAPSHOT_ACCEL_PREFIX and not (
        FEED_SNAPSHOT_ACCEL_PREFIX.startswith("/") and FEED_SNAPSHOT_ACCEL_PREFIX.endswith("/")):
    raise ImproperlyConfigured("FEED_SNAPSHOT_ACCEL_PREFIX must start and end with '/', e.g. /internal/snapshots/")

# A checkpoint is valid this long (seconds); it is re-signed when half of it is left.
FEED_CHECKPOINT_TTL = int(os.environ.get("FEED_CHECKPOINT_TTL", "3600"))
# Workers snapshot the active set after publishing when the newest snapshot is older than this.
FEED_SNAPSHOT_INTERVAL = int(os.environ.get("FEED_SNAPSHOT_INTERVAL", "3600"))
# Entries (tombstones included) are served for at least this long; older cursors restart
# from a snapshot. This is the longest checkpoint age partners can resume from.
FEED_RETENTION_DAYS = int(os.environ.get("FEED_RETENTION_DAYS", "90"))
# A rotated signing key stays published (no longer signing) for this long.
FEED_KEY_OVERLAP_DAYS = int(os.environ.get("FEED_KEY_OVERLAP_DAYS", "14"))
# Partner API request bodies (feedback) larger than this are refused with 413.
FEED_MAX_BODY_BYTES = int(os.environ.get("FEED_MAX_BODY_BYTES", str(64 * 1024)))

# --- Delivery to each partner (issue 14) -----------------------------------------------
# Which feed positions each partner key has fetched (hashbank.feed.delivery), so a survivor's
# status page can say "fetched by N of M partner platforms". Pages served to one key within
# this many seconds of each other share one mark row (its time is the latest of them: the
# page then says "by" that time, never earlier than the truth).
FEED_DELIVERY_MARK_SECONDS = int(os.environ.get("FEED_DELIVERY_MARK_SECONDS", "60"))
# Marks older than this are merged into one a key and day (`feed_prune`, daily): the status
# pages then give such fetches as a date, not a time.
FEED_DELIVERY_COMPACT_DAYS = int(os.environ.get("FEED_DELIVERY_COMPACT_DAYS", "30"))
# Off only to measure what recording costs (bench/feed_bench.py): with it off the status
# pages say nothing about delivery rather than something untrue.
FEED_DELIVERY_RECORDING = env_bool("FEED_DELIVERY_RECORDING", True)

# --- Snapshot retention (issue 11, item 11) ---------------------------------------------
# Only the newest feed snapshot is kept on disk; the one it replaced stays downloadable this
# many seconds (a partner that has just read its manifest can still fetch the file), then the
# sweep deletes it. Withdrawn or deleted cases' values leave the disk within this time.
FEED_SNAPSHOT_GRACE = int(os.environ.get("FEED_SNAPSHOT_GRACE", "300"))

# --- Redis timeouts (hashbank.queueing, readiness checks) ---------------------------------------
# Short, so a Redis outage costs a request a moment, never a hang: what jobs would do is in the
# database already and the sweep catches up.
REDIS_CONNECT_TIMEOUT = float(os.environ.get("REDIS_CONNECT_TIMEOUT", "1"))
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "3"))

# --- Match spikes (hashbank.services._hold_if_spiking; docs/feed.md, "Holds") -----------------
# A fingerprint reported as matched at least MATCH_SPIKE_REPORTS times by at least
# MATCH_SPIKE_PARTNERS different partners within MATCH_SPIKE_WINDOW_SECONDS is held for review.
# 0 reports turns it off.
MATCH_SPIKE_REPORTS = int(os.environ.get("MATCH_SPIKE_REPORTS", "100"))
MATCH_SPIKE_PARTNERS = int(os.environ.get("MATCH_SPIKE_PARTNERS", "3"))
MATCH_SPIKE_WINDOW_SECONDS = int(os.environ.get("MATCH_SPIKE_WINDOW_SECONDS", "3600"))

# --- Health (portal.health) and the worker ------------------------------------------------------
# /readyz fails when no worker has sent a heartbeat for this long (s); workers beat every 5 s,
# idle or busy (hashbank.worker), so 20 s is four missed beats: a killed worker shows within 20 s.
WORKER_HEARTBEAT_MAX_AGE = int(os.environ.get("WORKER_HEARTBEAT_MAX_AGE", "20"))

# --- Flood limits on the survivor pages (portal.survivor.limits) -------------------------------
# Per client address (IPv6 by /64) per hour, in 10-minute steps: consents given and cases made.
# A refuge or a university behind one address rarely makes more than a few cases an hour.
SURVIVOR_CONSENTS_PER_ADDRESS_PER_HOUR = int(os.environ.get("SURVIVOR_CONSENTS_PER_ADDRESS_PER_HOUR", "30"))
SURVIVOR_CASES_PER_ADDRESS_PER_HOUR = int(os.environ.get("SURVIVOR_CASES_PER_ADDRESS_PER_HOUR", "10"))
# New cases per hour across the whole service before new ones are held for staff review rather
# than published (still accepted). Sized for a national service: well above a busy day's peak
# hour, far below what a script makes.
SURVIVOR_CASES_TOTAL_PER_HOUR = int(os.environ.get("SURVIVOR_CASES_TOTAL_PER_HOUR", "300"))

# --- Partner API rate limits (hashbank.api.ratelimit) ------------------------------------------
# A token bucket per partner key in Redis: this many requests per second on average, and this
# many at once. A consumer paging through the feed at 1,000 entries a page needs a few requests
# a second at most; 32 readers on one key are held to this share. 0 turns the limit off.
PARTNER_RATE_PER_SECOND = float(os.environ.get("PARTNER_RATE_PER_SECOND", "10"))
PARTNER_RATE_BURST = int(os.environ.get("PARTNER_RATE_BURST", "30"))
# Each web process keeps the partner keys it has checked, trusted only while the keys'
# generation in Redis is unchanged (hashbank.keygeneration: a revocation is refused from the
# next request on), and re-read from the database after this many seconds whatever happens.
# 0 turns the cache off.
PARTNER_KEY_CACHE_SECONDS = float(os.environ.get("PARTNER_KEY_CACHE_SECONDS", "30"))

# --- Sessions and links -----------------------------------------------------------------------
# Sessions end with the browser (a shared computer keeps nothing); caseworkers' are also cut
# after 30 idle minutes or 12 hours (SessionLimitsMiddleware).
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# The address people reach the site at, for links printed by commands (welcome links), with
# its scheme and any port, e.g. https://shield.example.org or http://127.0.0.1:8000.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/") or (
    "http://127.0.0.1:8000" if DEBUG else f"https://{ALLOWED_HOSTS[0]}"
)

# --- The hosted lookup (issue 16; hashbank.api.lookup, hashbank.platform.lookup_service) -------
# POST /api/v1/lookup asks the lookup process (`manage.py lookup_serve`, its own unit) on this
# loopback address. Unset: with the embedded default (no Redis) the API answers from an index
# of the database held in the web process, fine for a demo list; otherwise it answers 503.
LOOKUP_URL = os.environ.get("LOOKUP_URL", "").rstrip("/")
# Seconds the API waits for the lookup process before answering 503 (it never hangs).
LOOKUP_TIMEOUT = float(os.environ.get("LOOKUP_TIMEOUT", "1.0"))
# The lookup process: where it listens, the store it keeps, the feed it follows (our own,
# through the verified platform sync) with the key of an internal partner, how often it syncs,
# when it folds its journal into a new index, and after how long without a successful sync it
# stops answering (it could be missing withdrawals).
LOOKUP_LISTEN = os.environ.get("LOOKUP_LISTEN", "127.0.0.1:8766")
LOOKUP_STORE_DIR = Path(os.environ.get("LOOKUP_STORE_DIR", BASE_DIR / "media" / "lookup-store"))
LOOKUP_FEED_URL = os.environ.get("LOOKUP_FEED_URL", "").rstrip("/") or f"{PUBLIC_BASE_URL}/api/v1"
LOOKUP_FEED_KEY = os.environ.get("LOOKUP_FEED_KEY", "")
LOOKUP_SYNC_SECONDS = float(os.environ.get("LOOKUP_SYNC_SECONDS", "1.0"))
LOOKUP_FOLD_BYTES = int(os.environ.get("LOOKUP_FOLD_BYTES", str(4 * 1024 * 1024)))
LOOKUP_MAX_STALE_SECONDS = float(os.environ.get("LOOKUP_MAX_STALE_SECONDS", "60"))
# Lookups have a token bucket per key of their own (hashbank.api.ratelimit): a forum makes one
# call per uploaded image. 0 turns the limit off.
LOOKUP_RATE_PER_SECOND = float(os.environ.get("LOOKUP_RATE_PER_SECOND", "20"))
LOOKUP_RATE_BURST = int(os.environ.get("LOOKUP_RATE_BURST", "40"))

# --- Push to partners (issue 16; hashbank.feed.push, docs/platforms.md "Push") -----------------
# A partner may register an HTTPS endpoint (PUT /api/v1/push); after a publisher run that
# published entries a job POSTs it the signed checkpoint. Each delivery resolves the host, refuses
# any private, loopback, link-local, multicast or reserved address, and connects to the vetted
# address: the connection (with TLS) within PUSH_TIMEOUT_SECONDS, the answer within as long again.
PUSH_TIMEOUT_SECONDS = float(os.environ.get("PUSH_TIMEOUT_SECONDS", "3"))
# Endpoints one job pushes to at once (a slow endpoint holds only its own slot).
PUSH_CONCURRENCY = int(os.environ.get("PUSH_CONCURRENCY", "8"))
# After a failed push the endpoint is tried again this many seconds later, doubling after each
# failure up to the maximum (the sweep, every minute, queues due retries); after this many failures
# in a row it is paused until the partner registers it again.
PUSH_RETRY_BASE_SECONDS = int(os.environ.get("PUSH_RETRY_BASE_SECONDS", "60"))
PUSH_RETRY_MAX_SECONDS = int(os.environ.get("PUSH_RETRY_MAX_SECONDS", "3600"))
PUSH_PAUSE_AFTER_FAILURES = int(os.environ.get("PUSH_PAUSE_AFTER_FAILURES", "12"))
# A CA bundle (PEM) that endpoints' certificates must chain to; empty: the system's trust store.
PUSH_CA_FILE = os.environ.get("PUSH_CA_FILE", "")
# For tests and benchmarks on this machine only (a receiver on 127.0.0.1): networks pushed to
# despite the address rules, comma-separated CIDRs. Leave it empty everywhere else.
PUSH_ALLOW_ADDRESSES = env_list("PUSH_ALLOW_ADDRESSES", "")
