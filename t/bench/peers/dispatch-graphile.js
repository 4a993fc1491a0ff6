// A peer of t/bench/dispatch (issue 14): graphile-worker delivering one job
// per recipient, each POSTing the body our scheduler sends (with its
// Content-Type and Idempotency-Key) to the same sink, done only on a 2xx
// (anything else throws, so graphile-worker retries it); concurrency 64.
// All the jobs are queued first, as a campaign's recipients are before it
// starts; the time is from the first job's start to the queue empty (the
// last completion written), as ours is from started_at to finished_at.
//   node dispatch-graphile.js POSTGRES_URL SINK_URL JOBS CAMPAIGN_ID
'use strict';
const { EventEmitter } = require('node:events');
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const { run, runMigrations, makeWorkerUtils } = require('graphile-worker');
const { Pool } = require('pg');
const { quietLogger, report } = require('./queue-common');

const [dsn, sink, jobsArg, campaignId] = process.argv.slice(2);
const JOBS = Number(jobsArg);
const CONCURRENCY = 64;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const logger = quietLogger();

// recipient i as the scheduler renders it for "Hi {{name}}, your code is
// {{code}}." (t/bench/dispatch's message)
function body(i) {
    return { campaign_id: campaignId, recipient_id: randomUUID(), type: 'sms',
             to: '+1555' + String(i).padStart(7, '0'),
             vars: { name: 'N' + i, code: i },
             message: { body: `Hi N${i}, your code is ${i}.` } };
}

function post(payload) {
    const data = JSON.stringify(payload);
    return new Promise((resolve, reject) => {
        const req = http.request(sink, {
            method: 'POST', agent, timeout: 10000,
            headers: { 'Content-Type': 'application/json',
                       'Idempotency-Key': payload.recipient_id,
                       'Content-Length': Buffer.byteLength(data) } },
            (res) => {
                const ok = res.statusCode >= 200 && res.statusCode < 300;
                res.resume();
                res.on('end', () => (ok ? resolve()
                    : reject(new Error(`sink: ${res.statusCode}`))));
            });
        req.on('timeout', () => req.destroy(new Error('sink: timed out')));
        req.on('error', reject);
        req.end(data);
    });
}

async function main() {
    await runMigrations({ connectionString: dsn, logger });
    const utils = await makeWorkerUtils({ connectionString: dsn, logger });
    for (let i = 1; i <= JOBS; i += 5000) {
        const specs = [];
        for (let j = i; j < Math.min(i + 5000, JOBS + 1); j++) {
            specs.push({ identifier: 'deliver', payload: body(j) });
        }
        await utils.addJobs(specs);
    }
    await utils.release();

    let first = null;
    let done = 0;
    let failed = 0;
    let finished;
    const allDone = new Promise((resolve) => { finished = resolve; });
    const events = new EventEmitter();
    events.on('job:start', () => { first = first ?? Date.now(); });
    events.on('job:error', () => { failed++; });
    events.on('job:success', () => { if (++done === JOBS) finished(); });
    const runner = await run({
        connectionString: dsn, concurrency: CONCURRENCY, logger, events,
        noHandleSignals: true, taskList: { deliver: post } });
    await allDone;

    // the last completions are written after job:success: wait for them
    const pool = new Pool({ connectionString: dsn, max: 1 });
    for (;;) {
        const { rows } = await pool.query(
            'SELECT count(*)::int AS n FROM graphile_worker._private_jobs');
        if (rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 5));
    }
    const secs = (Date.now() - first) / 1000;
    await pool.end();
    await runner.stop();
    agent.destroy();
    report({ jobs: JOBS, secs, rate: JOBS / secs, retried: failed,
             concurrency: CONCURRENCY });
}

// the output is a file: written by the time exit() runs; no handle left open
main().then(() => process.exit(0),
           (e) => { console.error(e); process.exit(1); });
