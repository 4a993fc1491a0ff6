// A peer of t/bench/timing (issue 14): how late graphile-worker runs jobs
// given a time (run_at), against our campaigns' start lateness. JOBS jobs
// due from 3 s on, spread over SPREAD seconds (as insert_due() spreads our
// campaigns), queued while the worker runs (as ours are while the scheduler
// runs); lateness = when the handler ran minus when the job was due, in ms.
// POLL_MS: its pollInterval, or "default" (2000 ms); concurrency 64, as in
// t/bench/dispatch.
//   node timing-graphile.js POSTGRES_URL JOBS SPREAD POLL_MS|default
'use strict';
const { EventEmitter } = require('node:events');
const { run, runMigrations, makeWorkerUtils } = require('graphile-worker');
const { quietLogger, lateness, report, dueTimes, now } =
    require('./queue-common');

const [dsn, jobsArg, spreadArg, poll] = process.argv.slice(2);
const JOBS = Number(jobsArg);
const logger = quietLogger();

async function main() {
    await runMigrations({ connectionString: dsn, logger });
    const late = [];
    let finished;
    const allDone = new Promise((resolve) => { finished = resolve; });
    const due = async (payload) => {
        late.push(now() - payload.due);
        if (late.length === JOBS) finished();
    };
    const runner = await run({
        connectionString: dsn, concurrency: 64, logger,
        events: new EventEmitter(), noHandleSignals: true, taskList: { due },
        ...(poll === 'default' ? {} : { pollInterval: Number(poll) }) });

    const utils = await makeWorkerUtils({ connectionString: dsn, logger });
    await utils.addJobs(dueTimes(JOBS, 3, Number(spreadArg)).map((t) => ({
        identifier: 'due', payload: { due: t }, runAt: new Date(t) })));
    await utils.release();

    await allDone;
    await runner.stop();
    report({ ...lateness(late), poll_interval: poll });
}

// the output is a file: written by the time exit() runs; no handle left open
main().then(() => process.exit(0),
           (e) => { console.error(e); process.exit(1); });
