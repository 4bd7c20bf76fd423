/**
 * GatewayBudgets (broker/gateway/budgets.ts) on its own, with connections
 * that are plain records of what the budgets read and do: the largest holder
 * goes first, the exact output count is taken only past the cap and not on
 * every send, and every connection the publish budget paused is resumed.
 * The attack tests in test/security run the same budgets in a real broker.
 */
import t from 'tap'
import { SkiffError } from '../../protocol/index.js'
import { GatewayBudgets, type Budgeted } from '../../broker/gateway/budgets.js'

const MiB = 1024 * 1024

class Holder implements Budgeted {
  closed = false
  failedWith: string | undefined
  paused = false
  counted = 0
  constructor(
    readonly id: number,
    private output = 0,
    public partialFrameBytes = 0,
    private readonly onFail: (h: Holder) => void = () => {},
  ) {}
  get pendingOutput(): number {
    this.counted++
    return this.output
  }
  set pendingOutputBytes(n: number) {
    this.output = n
  }
  fail(err: SkiffError): void {
    if (this.closed) return
    this.closed = true
    this.failedWith = err.codeName
    this.onFail(this)
  }
  pauseForBrokerPublishes(): void {
    this.paused = true
  }
  resumeForBrokerPublishes(): void {
    this.paused = false
  }
}

const limits = { maxTotalPendingBytes: 32 * MiB, maxTotalPartialFrameBytes: 2 * MiB, maxTotalPublishBytes: 4 * MiB }

t.test('unsent output: counted exactly only past the cap, then the largest holders are cut until under it', async (t) => {
  const conns = [new Holder(1, 20 * MiB), new Holder(2, 8 * MiB), new Holder(3, 6 * MiB), new Holder(4, 1 * MiB)]
  const b = new GatewayBudgets(limits, () => conns)
  for (let i = 0; i < 30; i++) b.outputWritten(MiB) // 30 MiB sent: under the cap, nothing is counted
  t.equal(conns[0]!.counted, 0, 'no O(connections) count below the cap')
  b.outputWritten(3 * MiB) // the estimate passes cap + the recheck margin
  t.equal(conns[0]!.counted, 1, 'one exact count')
  t.strictSame(
    conns.map((c) => c.failedWith),
    ['SLOW_CONSUMER', undefined, undefined, undefined],
    '35 MiB held: the 20 MiB holder is cut, which is enough',
  )
  t.equal(b.totals().pendingOutputBytes, 15 * MiB, 'the gauge counts the connections still open')
})

t.test('unsent output near the cap: one exact count per recheck margin sent, not one per send', async (t) => {
  // The sockets drain as fast as they are written: the holders keep 31.5 MiB, just under the cap.
  const conns = [new Holder(1, 16 * MiB), new Holder(2, 15.5 * MiB)]
  const b = new GatewayBudgets(limits, () => conns)
  b.outputWritten(31.5 * MiB) // what they hold was sent once
  for (let i = 0; i < 200; i++) b.outputWritten(64 * 1024) // 12.5 MiB more, drained as it goes
  t.ok(conns.every((c) => !c.closed), 'nobody is cut: the exact total is under the cap')
  t.ok(conns[0]!.counted >= 1 && conns[0]!.counted <= 13, `${conns[0]!.counted} exact counts for 200 sends (at most one per MiB sent)`)
})

t.test('partly received frames: past the budget the largest holders are cut with OVERLOADED, and only they', async (t) => {
  const conns: Holder[] = []
  let b: GatewayBudgets
  const release = (h: Holder) => b.partialFramesChanged(-h.partialFrameBytes)
  conns.push(new Holder(1, 0, 1 * MiB, release), new Holder(2, 0, 256 * 1024, release), new Holder(3, 0, 128 * 1024, release))
  b = new GatewayBudgets(limits, () => conns)
  b.partialFramesChanged(1 * MiB + 256 * 1024 + 128 * 1024)
  t.ok(conns.every((c) => !c.closed), 'under 2 MiB: nobody is cut')
  const late = new Holder(4, 0, 800 * 1024, release)
  conns.push(late)
  b.partialFramesChanged(800 * 1024)
  t.strictSame(
    conns.map((c) => c.failedWith),
    ['OVERLOADED', undefined, undefined, undefined],
    'the 1 MiB holder is cut, not the connection whose bytes passed the budget',
  )
  t.equal(b.totals().partialFrameBytes, 256 * 1024 + 128 * 1024 + 800 * 1024)
})

t.test('unconfirmed publishes: past the budget a publishing connection pauses; below half every paused one resumes', async (t) => {
  const conns = Array.from({ length: 5 }, (_, i) => new Holder(i + 1))
  const b = new GatewayBudgets(limits, () => conns)
  for (const c of conns) b.publishStarted(c, 1 * MiB) // 5 MiB: the 5th passes 4 MiB
  t.strictSame(conns.map((c) => c.paused), [false, false, false, false, true])
  b.publishStarted(conns[0]!, MiB)
  b.publishStarted(conns[1]!, MiB)
  t.equal(b.pausedForPublishCount, 3, 'each connection starting a publish over the budget pauses')
  b.publishEnded(3 * MiB) // 4 MiB left: over half
  t.equal(b.pausedForPublishCount, 3, 'still over half the budget: all stay paused')
  b.connectionGone(conns[4]!)
  b.publishEnded(2 * MiB) // 2 MiB: half
  t.strictSame(conns.map((c) => c.paused), [false, false, false, false, true], 'every connection still open that was paused is resumed')
  t.equal(b.pausedForPublishCount, 0)
  t.equal(b.totals().unconfirmedPublishBytes, 2 * MiB)
})

t.test('a budget of 0 is off', async (t) => {
  const conns = [new Holder(1, 100 * MiB, 100 * MiB)]
  const b = new GatewayBudgets({ maxTotalPendingBytes: 0, maxTotalPartialFrameBytes: 0, maxTotalPublishBytes: 0 }, () => conns)
  b.outputWritten(200 * MiB)
  b.partialFramesChanged(200 * MiB)
  b.publishStarted(conns[0]!, 200 * MiB)
  t.equal(conns[0]!.closed, false)
  t.equal(conns[0]!.paused, false)
  t.equal(conns[0]!.counted, 0)
})
