// A peer of t/bench/timing (issue 14): how late pg-boss runs jobs given a
// time (startAfter), against our campaigns' start lateness. JOBS jobs due
// from 3 s on, spread over SPREAD seconds (as insert_due() spreads our
// campaigns), queued while the worker runs; lateness = when the handler ran
// minus when the job was due, in ms. pg-boss 9 polls; its finest setting is
// newJobCheckInterval 100 ms (it refuses less). A worker fetches up to 64 a
// poll and runs 64 at once (teamSize, teamConcurrency), as concurrency 64
// elsewhere.
//   node timing-pgboss.js POSTGRES_URL JOBS SPREAD
'use strict';
const PgBoss = require('pg-boss');
const { lateness, report, dueTimes, now } = require('./queue-common');

const [dsn, jobsArg, spreadArg] = process.argv.slice(2);
const JOBS = Number(jobsArg);
const POLL_MS = 100;

async function main() {
    const boss = new PgBoss({ connectionString: dsn, schema: 'pgboss',
                              newJobCheckInterval: POLL_MS });
    boss.on('error', (e) => console.error('pg-boss:', e.message));
    await boss.start();
    const late = [];
    let finished;
    const allDone = new Promise((resolve) => { finished = resolve; });
    await boss.work('due', { teamSize: 64, teamConcurrency: 64,
                             newJobCheckInterval: POLL_MS }, async (job) => {
        late.push(now() - job.data.due);
        if (late.length === JOBS) finished();
    });

    await boss.insert(dueTimes(JOBS, 3, Number(spreadArg)).map((t) => ({
        name: 'due', data: { due: t }, startAfter: new Date(t) })));

    await allDone;
    await boss.stop({ graceful: false, destroy: true });
    report({ ...lateness(late), poll_interval: POLL_MS });
}

// the output is a file: written by the time exit() runs; no handle left open
main().then(() => process.exit(0),
           (e) => { console.error(e); process.exit(1); });
