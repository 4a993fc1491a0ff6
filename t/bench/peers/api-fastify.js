// A peer of t/bench/api (issue 14): GET /v1/campaigns/{id} in fastify with
// node-postgres, doing what the module does for it: the Bearer key, its
// tenant from campaign.key_of() kept 1.5 s in process memory, then the
// module's own statement (NGX_HTTP_CAMPAIGN_SQL_GET), the row rendered as
// the campaign object with its ETag, the version. As many resources as the
// module gets: 2 processes (node's cluster), each with a pool of 4.
//   node api-fastify.js PORT POSTGRES_URL      (modules from NODE_PATH)
'use strict';
const cluster = require('node:cluster');

const [port, dsn] = process.argv.slice(2);
const WORKERS = 2;

if (cluster.isPrimary) {
    for (let i = 0; i < WORKERS; i++) cluster.fork();
    // a worker that dies is a broken peer: say so and stop them all
    cluster.on('exit', (w, code, signal) => {
        console.error(`api-fastify: worker ${w.process.pid} exited `
                      + `(${signal || code})`);
        process.exit(1);
    });
    return;
}

const fastify = require('fastify')({ logger: false });
const { Pool } = require('pg');

const pool = new Pool({ connectionString: dsn, max: 4 });
pool.on('error', (e) => console.error('api-fastify: idle client:', e.message));

const KEY_TTL_MS = 1500;            // as ngx_http_campaign_auth.c
const KEYS_MAX = 512;
const keys = new Map();             // key -> { tenant, expires }
// the module's statement for this GET (ngx_http_campaign_module.h)
const GET_SQL = 'SELECT id, name, type, status, message, scheduled_at, metadata, '
    + 'total, pending, sent, failed, cancelled, delivered, undelivered, '
    + 'created_at, updated_at, started_at, finished_at, failure, '
    + 'created_by, scheduled_by, version, tenant FROM campaign.campaigns '
    + 'WHERE id = $1::uuid AND tenant IS NOT DISTINCT FROM $2';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(reply, status, code, message) {
    if (status === 401) reply.header('www-authenticate', 'Bearer');
    reply.code(status).header('content-type', 'application/json');
    return Buffer.from(JSON.stringify({ error: { code, message } }));
}

function bearer(header) {
    const m = /^Bearer +([\x21-\x7e]{1,256})$/i.exec(header || '');
    return m ? m[1] : null;
}

async function tenantOf(key) {
    const hit = keys.get(key);
    if (hit && hit.expires > Date.now()) return hit.tenant;
    const { rows } = await pool.query({
        name: 'key_of', values: [key],
        text: 'SELECT tenant FROM campaign.key_of($1)' });
    if (rows.length === 0) return null;
    if (keys.size >= KEYS_MAX) keys.clear();
    keys.set(key, { tenant: rows[0].tenant, expires: Date.now() + KEY_TTL_MS });
    return rows[0].tenant;
}

fastify.get('/v1/campaigns/:id', async (req, reply) => {
    const key = bearer(req.headers.authorization);
    const tenant = key === null ? null : await tenantOf(key);
    if (tenant === null) {
        return fail(reply, 401, 'unauthorized',
                    'an API key is required: Authorization: Bearer');
    }
    if (!UUID.test(req.params.id)) {
        return fail(reply, 404, 'not_found', 'no such route');
    }
    const { rows } = await pool.query({
        name: 'campaign_get', values: [req.params.id, tenant],
        text: GET_SQL });
    if (rows.length === 0) {
        return fail(reply, 404, 'not_found', 'no such campaign');
    }
    const c = rows[0];
    const ts = (d) => (d === null ? null : d.toISOString());
    const body = {
        id: c.id, name: c.name, type: c.type, status: c.status,
        message: c.message, scheduled_at: ts(c.scheduled_at),
        metadata: c.metadata,
        stats: { total: c.total, pending: c.pending, sent: c.sent,
                 failed: c.failed, cancelled: c.cancelled,
                 delivered: c.delivered, undelivered: c.undelivered },
        created_at: ts(c.created_at), updated_at: ts(c.updated_at),
        started_at: ts(c.started_at), finished_at: ts(c.finished_at),
        failure: c.failure, created_by: c.created_by,
        scheduled_by: c.scheduled_by };
    reply.code(200).header('content-type', 'application/json')
         .header('etag', `"${c.version}"`);
    // as bytes: a string of type JSON would get "; charset=utf-8" added
    return Buffer.from(JSON.stringify(body));
});

// a failed query: the module's 503 (passing reasons) in short
fastify.setErrorHandler((err, req, reply) => {
    console.error('api-fastify:', err.message);
    reply.header('retry-after', '1');
    reply.send(fail(reply, 503, 'database_unavailable',
                    'the database is unavailable; retry later'));
});

fastify.listen({ port: Number(port), host: '127.0.0.1' }).catch((e) => {
    console.error('api-fastify:', e.message);
    process.exit(1);
});
