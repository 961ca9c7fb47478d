"""Per-key rate limits for the partner API: a token bucket per partner key in Redis.

Each key may make PARTNER_RATE_BURST requests at once and PARTNER_RATE_PER_SECOND on average;
past that the API answers 429 `rate_limited` with Retry-After, after one Redis round trip and
before any feed work, so refusing costs almost nothing and one busy key cannot take the web
workers from survivors (issue 11). The bucket lives in one atomic Lua script on Redis' own
clock, so every web process shares it and parallel requests cannot overdraw it.

The hosted lookup (POST /api/v1/lookup) has buckets of its own, LOOKUP_RATE_BURST at once and
LOOKUP_RATE_PER_SECOND on average per key, so a platform's uploads and its feed reading never
spend each other's tokens.

When Redis is unreachable the request is served (and a warning logged): the feed itself is in
PostgreSQL, and a Redis blip must not cut partners off. In the embedded mode (no Redis) there
is no limit.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from hashbank.apikeys import KEY_RE, key_hash
from hashbank.keygeneration import GENERATION_KEY

logger = logging.getLogger(__name__)

# KEYS[1] the bucket, KEYS[2] the partner keys' generation (hashbank.keygeneration); ARGV rate
# (tokens/s), burst, a fresh generation to store if there is none, and optionally "now"
# (tests); returns {allowed, seconds until one token, tokens left, generation} as strings (Lua
# numbers would be truncated).
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
local generation = redis.call('GET', KEYS[2])
if not generation then
  generation = ARGV[3]
  redis.call('SET', KEYS[2], generation)
end
return {tostring(allowed), tostring(wait), tostring(tokens), generation}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    remaining: int = 0
    #: The partner keys' generation read in the same round trip (hashbank.keygeneration), or
    #: None when Redis did not answer (then no cached key is trusted).
    generation: str | None = None


def bucket_for(token: str) -> str:
    """A key's bucket name: the start of the SHA-256 of the whole key (what PartnerKey stores
    as key_hash), so the bucket is known before any database lookup, and only someone holding
    the whole key can spend from it (the key's public prefix alone cannot drain a partner)."""
    return key_hash(token)[:32]


#: kind -> (Redis key prefix, rate setting, burst setting).
KINDS = {
    "partner": ("imageshield:partner-rate", "PARTNER_RATE_PER_SECOND", "PARTNER_RATE_BURST"),
    "lookup": ("imageshield:lookup-rate", "LOOKUP_RATE_PER_SECOND", "LOOKUP_RATE_BURST"),
}
LOOKUP_PATH = "/api/v1/lookup"


def kind_for(path: str) -> str:
    """Which bucket a request path spends from."""
    return "lookup" if path == LOOKUP_PATH else "partner"


def take(key_id: int | str, *, now: float | None = None, kind: str = "partner") -> Decision:
    """Spend one token of this bucket (see bucket_for) of this kind (see KINDS)."""
    prefix, rate_setting, burst_setting = KINDS[kind]
    rate, burst = float(getattr(settings, rate_setting)), float(getattr(settings, burst_setting))
    if settings.JOBS_IN_PROCESS or rate <= 0:
        return Decision(allowed=True, remaining=int(burst))
    args = [rate, burst, secrets.token_hex(8)] + ([] if now is None else [now])
    try:
        allowed, wait, tokens, generation = _script()(keys=[f"{prefix}:{key_id}", GENERATION_KEY], args=args)
    except Exception as error:
        logger.warning("partner rate limit not applied (Redis: %s: %s)", type(error).__name__, error)
        return Decision(allowed=True)
    generation = generation.decode("ascii") if isinstance(generation, bytes) else str(generation)
    if allowed in (b"1", "1"):
        return Decision(allowed=True, remaining=int(float(tokens)), generation=generation)
    return Decision(allowed=False, retry_after=max(1, math.ceil(float(wait))), remaining=0, generation=generation)


def _script():  # -> redis.commands.core.Script
    """The script, registered with this process's client: EVALSHA, so each request sends the
    script's digest rather than its text (redis-py loads it again if Redis restarted)."""
    from hashbank.queueing import redis_connection

    client = redis_connection()
    held = _registered.get(id(client))
    if held is None or held[0] is not client:
        held = _registered[id(client)] = (client, client.register_script(_SCRIPT))
    return held[1]


_registered: dict[int, tuple[object, object]] = {}


def refusal(decision: Decision) -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": "rate_limited",
                   "message": f"this key is over its rate limit; try again in {decision.retry_after} s"}},
        status=429,
    )
    response["Retry-After"] = str(decision.retry_after)
    response["RateLimit-Remaining"] = "0"
    response["Cache-Control"] = "no-store"
    return response


class PartnerRateLimitMiddleware:
    """Refuse a key over its limit before anything else runs: no session, no CSRF, no database,
    only the one Redis round trip. A flood of refused requests then costs the web workers so
    little that survivors' requests stay fast beside it (issue 11; bench/resilience.py).

    Only requests under /api/v1/ that carry a well-formed key are charged here; the view's
    decorator (hashbank.api.views.api) then authenticates the key as before and uses this
    decision rather than charging twice."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/v1/"):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and KEY_RE.fullmatch(token):
                decision = take(bucket_for(token), kind=kind_for(request.path))
                if not decision.allowed:
                    return refusal(decision)
                request.partner_rate = decision  # type: ignore[attr-defined]
        return self.get_response(request)
