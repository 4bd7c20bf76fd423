/**
 * The fault suite's line on records the group did not receive: when the
 * group fell short at the deadline, how many of the missing came later (past
 * the brokers' ack and idle timeouts) and how many never did.
 */
import t from 'tap'
import { undeliveredNote } from './fault-suite.js'

t.test('the group got everything in time: nothing to say', async (t) => {
  t.equal(undeliveredNote({ drained: true, check: { undelivered: { count: 0 } } }), '')
})

t.test('the missing all came late: the line says so', async (t) => {
  t.match(undeliveredNote({ drained: false, undeliveredAtDeadline: 66, check: { undelivered: { count: 0 } } }), /within 30 s: 66 missing then, 66 of them delivered in the 45 s after/)
})

t.test('some never came: the late ones are told apart', async (t) => {
  t.match(undeliveredNote({ drained: false, undeliveredAtDeadline: 66, check: { undelivered: { count: 6 } } }), /66 missing then, 60 of them delivered/)
})
