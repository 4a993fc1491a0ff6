"""A peer of t/bench/api (issue 14): GET /v1/campaigns/{id} in FastAPI with
asyncpg, doing what the module does for it: the Bearer key, its tenant from
campaign.key_of() kept 1.5 s in process memory, then the module's own
statement (NGX_HTTP_CAMPAIGN_SQL_GET), rendered as the campaign object (as
ngx_http_campaign_campaign.c does) with its ETag, the version. As many
resources as the module gets: run by
uvicorn --workers 2, each process with a pool of 4.
    BENCH_PG=postgresql://... uvicorn api_fastapi:app --workers 2 ...
"""
import datetime
import json
import os
import re
import time

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import Response

KEY_TTL = 1.5               # seconds, as ngx_http_campaign_auth.c
KEYS_MAX = 512
BEARER = re.compile(r'Bearer +([\x21-\x7e]{1,256})', re.I)
UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                  r'[0-9a-f]{12}', re.I)
# the module's statement for this GET (ngx_http_campaign_module.h)
GET = ('SELECT id, name, type, status, message, scheduled_at, metadata, '
       'total, pending, sent, failed, cancelled, delivered, undelivered, '
       'created_at, updated_at, started_at, finished_at, failure, '
       'created_by, scheduled_by, version, tenant FROM campaign.campaigns '
       'WHERE id = $1::uuid AND tenant IS NOT DISTINCT FROM $2')
KEY_OF = 'SELECT tenant FROM campaign.key_of($1)'

STATS = ('total', 'pending', 'sent', 'failed', 'cancelled', 'delivered',
         'undelivered')


def ts(t):
    """As campaign.ts(): UTC with milliseconds."""
    if t is None:
        return None
    t = t.astimezone(datetime.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (t.microsecond // 1000)


app = FastAPI()
state = {'pool': None, 'keys': {}}      # keys: key -> (tenant, expires)


@app.on_event('startup')
async def open_pool():
    state['pool'] = await asyncpg.create_pool(os.environ['BENCH_PG'],
                                              min_size=4, max_size=4)


@app.on_event('shutdown')
async def close_pool():
    await state['pool'].close()


def fail(status, code, message):
    headers = {'WWW-Authenticate': 'Bearer'} if status == 401 else None
    body = json.dumps({'error': {'code': code, 'message': message}},
                      separators=(',', ':'))
    return Response(body, status, headers, 'application/json')


async def tenant_of(key):
    hit = state['keys'].get(key)
    if hit and hit[1] > time.monotonic():
        return hit[0]
    tenant = await state['pool'].fetchval(KEY_OF, key)
    if tenant is None:
        return None
    if len(state['keys']) >= KEYS_MAX:
        state['keys'].clear()
    state['keys'][key] = (tenant, time.monotonic() + KEY_TTL)
    return tenant


@app.get('/v1/campaigns/{campaign_id}')
async def get_campaign(campaign_id: str, request: Request):
    m = BEARER.fullmatch(request.headers.get('authorization', ''))
    tenant = await tenant_of(m.group(1)) if m else None
    if tenant is None:
        return fail(401, 'unauthorized',
                    'an API key is required: Authorization: Bearer')
    if not UUID.fullmatch(campaign_id):
        return fail(404, 'not_found', 'no such route')
    c = await state['pool'].fetchrow(GET, campaign_id, tenant)
    if c is None:
        return fail(404, 'not_found', 'no such campaign')
    body = {
        'id': str(c['id']), 'name': c['name'], 'type': c['type'],
        'status': c['status'], 'message': json.loads(c['message']),
        'scheduled_at': ts(c['scheduled_at']),
        'metadata': json.loads(c['metadata']),
        'stats': {k: c[k] for k in STATS},
        'created_at': ts(c['created_at']), 'updated_at': ts(c['updated_at']),
        'started_at': ts(c['started_at']),
        'finished_at': ts(c['finished_at']),
        'failure': c['failure'], 'created_by': c['created_by'],
        'scheduled_by': c['scheduled_by']}
    return Response(json.dumps(body, separators=(',', ':'),
                               ensure_ascii=False),
                    200, {'ETag': '"%d"' % c['version']}, 'application/json')
