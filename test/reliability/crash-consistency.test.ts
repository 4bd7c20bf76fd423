/**
 * Crash consistency in the manner of ALICE and CrashMonkey: record the file
 * operations a real broker makes (strace) while topics are created, records
 * are published with confirm (fsync=always), and a consumer group acks,
 * holds and dead-letters; then, for every point where power could be lost,
 * build the disk that point can leave, start a real broker on it, and check
 * what a user would see (crash-replay/checker.ts).
 *
 * The views (crash-replay/durability-model.ts has the exact rules):
 *  - durable: only what was fsynced (a file's data by an fsync of the file, a
 *    name by an fsync of its directory). Every cut point.
 *  - written: everything written, synced or not (a SIGKILL leaves this). A
 *    seeded sample of cut points (SKIFF_SEED replays one); bench/crash/replay.mjs
 *    --all runs every cut point.
 * Every cut point must pass every check in both views: each run of
 * consecutive cut points that fails the same checks is one failure, naming
 * the cut points, the operations they fall before and what goes wrong.
 *
 * Skips, saying why, where strace is missing or ptrace is not allowed.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runSeed } from './harness.js'
import { runCampaign } from './crash-replay/campaign.js'
import { record, straceProblem } from './crash-replay/recorder.js'
import { describeSegment, segmentsOf } from './crash-replay/report.js'
/** Cut points of the written view; every cut point of the durable view runs anyway. */
const WRITTEN_CUTS = 40
/**
 * No broker starts after this; the whole test stays under tap's 240 s
 * (recording about 7 s, the states started last about 5 s more). On a busy
 * 2-core machine, beside another test file, 83 states two at a time ran out
 * of 170 s.
 */
const DEADLINE_MS = 200_000
/**
 * Disk states started at once. Much of a state's time is waiting (a broker
 * starting, reads that end on an idle timeout), so three overlap: 81 states
 * took 110 s three at a time against 152 s two at a time, alone on 2 cores.
 */
const WIDTH = 3

const skip = await straceProblem()
if (skip) t.plan(0, skip)
else {
  t.test('every power-loss point of topic creation, confirmed publishes and group saves', async (t) => {
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
    const workDir = fs.mkdtempSync(path.join(base, 'skiff-crash-replay-'))
    t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }))
    const seed = runSeed()
    t.comment(`seed ${seed} (SKIFF_SEED=${seed} picks the same written-view cut points)`)

    const rec = await record(workDir)
    const { ops } = rec.io
    const wanted = rec.facts.spec.topics.reduce((n, x) => n + x.publishes, 0)
    t.equal(rec.facts.published.length, wanted, `the workload's ${wanted} publishes were all confirmed`)
    t.same(rec.replies.created.map((c) => c.topic), rec.facts.spec.topics.map((x) => x.topic), 'the trace holds the answer to each topic creation')
    t.ok(ops.some((op) => op.kind === 'rename' && op.to.endsWith('/topic.json')), 'the trace holds the topic.json renames')
    t.ok(ops.some((op) => op.kind === 'open' && /\/(?!0{20}\.)\d{20}\.log$/.test(op.path)), 'a segment rolled')
    t.ok(ops.some((op) => op.kind === 'mkdir' && op.path.endsWith('.dlq')), 'the dead-letter topic was created')
    t.comment(`recorded in ${Math.round(rec.ms)} ms: ${rec.calls} calls traced, ${ops.length} file operations in the data dir, ${rec.io.sockets.length} socket writes`)

    const report = await runCampaign(rec, { workDir, writtenCuts: WRITTEN_CUTS, seed, width: WIDTH, deadlineMs: DEADLINE_MS, log: (l) => t.comment(l) })
    t.ok(report.timeline.saves.length >= 2, `the group's state was saved ${report.timeline.saves.length} times`)
    t.equal(report.notRun, 0, `every disk state was started (${report.states.length} in ${Math.round(report.ms / 1000)} s)`)

    for (const view of ['written', 'durable'] as const) {
      const segments = segmentsOf(report, view)
      const cuts = segments.reduce((n, s) => n + s.cuts, 0)
      const ok = segments.filter((s) => s.checks.length === 0).reduce((n, s) => n + s.cuts, 0)
      t.ok(ok > 0, `${view} view: ${ok} of ${cuts} cut points pass`)
      for (const seg of segments) if (seg.checks.length > 0) t.fail(describeSegment(seg, ops))
    }
  })
}
