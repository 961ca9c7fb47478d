"""Which partner keys the API's in-process key cache may still trust (hashbank.api.auth).

Reading the key's row costs a partner request more than anything else it does (a database
round trip and the ORM's query building: about a third of a hosted lookup's CPU), so each web
process keeps the keys it has checked. A cache must never let a revoked key or a suspended
partner in, so it is keyed to a *generation* held in Redis: one value, read in the same round
trip (the same Lua script) as the rate limit every partner request already spends, and
replaced with a fresh random value whenever a key or a partner changes. A cached key is used
only while the generation it was read under is still the current one, so a revocation is
refused from the next request on in every process, as the admin promises.

A random value, not a counter: a Redis that restarted empty, or came back from an old copy,
can never present a generation a process cached under before (the script stores a new random
value when it finds none). Without Redis (the embedded mode, or an outage) there is no
generation and every request reads the database, as before. If Redis is unreachable at the
moment of a change, the caches keep their keys until PARTNER_KEY_CACHE_SECONDS have passed
(logged): the change is in the database, and every cached entry is re-read by then.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

GENERATION_KEY = "imageshield:partner-keys-generation"


def partner_keys_changed() -> None:
    """A key was revoked or issued, or a partner changed: once the transaction commits, every
    process's cached keys stop being trusted. Call it from every write to PartnerKey or Partner
    that can change who is let in (services and the admin)."""
    transaction.on_commit(_new_generation)


def _new_generation() -> None:
    if settings.JOBS_IN_PROCESS:
        return  # no Redis: nothing is cached (hashbank.api.auth)
    from hashbank.queueing import redis_connection

    try:
        redis_connection().set(GENERATION_KEY, secrets.token_hex(8))
    except Exception as error:
        logger.warning("partner key caches not told of a change (Redis: %s: %s); cached keys are re-read within "
                       "%s s", type(error).__name__, error, settings.PARTNER_KEY_CACHE_SECONDS)
