// What the job-queue peers (dispatch-graphile.js, timing-*.js) share: a
// graphile-worker logger that tells warnings and errors only (its default
// prints a line per job, which a deployment at this rate would turn off),
// lateness figures picked as t/bench/timing picks ours, and the one JSON
// line each prints for its bench to read.
'use strict';

function quietLogger() {
    const { Logger } = require('graphile-worker');
    return new Logger(() => (level, message) => {
        if (level === 'error' || level === 'warning') {
            console.error(`graphile-worker ${level}: ${message}`);
        }
    });
}

// p50, p99 and max of lateness in ms, indexed as t/bench/timing's lateness()
function lateness(values) {
    const l = [...values].sort((a, b) => a - b);
    return { n: l.length, p50: l[Math.floor(l.length / 2)],
             p99: l[Math.floor(0.99 * (l.length - 1))], max: l[l.length - 1] };
}

// the wall clock in ms, to the microsecond (Date.now() is whole ms)
function now() {
    return performance.timeOrigin + performance.now();
}

function report(result) {
    console.log('RESULT ' + JSON.stringify(result));
}

// jobs due from FROM_S on, spread evenly over SPREAD_S, as insert_due() does
function dueTimes(n, fromS, spreadS) {
    const base = now() + fromS * 1000;
    return Array.from({ length: n },
                      (_, i) => base + (i + 1) * spreadS * 1000 / n);
}

module.exports = { quietLogger, lateness, report, dueTimes, now };
