/**
 * GROUP_DELETE, GROUP_RESET, TOPIC_PURGE and TOPIC_ALTER need the admin
 * permission: a user who may publish and subscribe to the topic, or a
 * monitor, gets FORBIDDEN and nothing changes; an admin may.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { Reader, publishAll, startTestBroker } from './helpers.js'

const ADMIN = 'admin-token-0123456789abcdef'
const APP = 'app-token-0123456789abcdef'
const MONITOR = 'monitor-token-0123456789abcdef'

t.test('the new admin requests need admin', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-acl-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const authFile = path.join(dir, 'users.json')
  fs.writeFileSync(
    authFile,
    JSON.stringify({
      users: [
        { name: 'ops', token: ADMIN, admin: true, publish: ['>'], subscribe: ['>'] },
        { name: 'app', token: APP, publish: ['>'], subscribe: ['>'] },
        { name: 'watch', token: MONITOR, monitor: true },
      ],
    }),
  )
  const tb = await startTestBroker(t, 2, { authFile })
  const admin = await tb.client({ user: 'ops', token: ADMIN })
  const app = await tb.client({ user: 'app', token: APP })
  const monitor = await tb.client({ user: 'watch', token: MONITOR })

  await admin.admin.createTopic('acl-orders', { partitions: 1 })
  await publishAll(app, 'acl-orders', [1, 2, 3])
  const consumer = await app.subscribe('acl-orders', { group: 'billing', from: 'earliest' })
  for (const m of await new Reader(consumer).take(3)) m.ack()
  await consumer.close()

  for (const [name, client] of [['app', app], ['watch', monitor]] as const) {
    await t.rejects(client.admin.deleteGroup('acl-orders', 'billing'), { codeName: 'FORBIDDEN', message: new RegExp(`user ${name}`) }, `${name}: group delete`)
    await t.rejects(client.admin.resetGroup('acl-orders', 'billing', 'earliest'), { codeName: 'FORBIDDEN' }, `${name}: group reset`)
    await t.rejects(client.admin.resetGroup('acl-orders', 'billing', 'earliest', { dryRun: true }), { codeName: 'FORBIDDEN' }, `${name}: even a dry run`)
    await t.rejects(client.admin.purgeTopic('acl-orders'), { codeName: 'FORBIDDEN' }, `${name}: purge`)
    await t.rejects(client.admin.alterTopic('acl-orders', { partitions: 2 }), { codeName: 'FORBIDDEN' }, `${name}: alter`)
    await t.rejects(client.admin.purgeTopic('acl-no-such-topic'), { codeName: 'FORBIDDEN' }, `${name}: refused before existence is checked`)
  }
  const d = await admin.admin.describeTopic('acl-orders')
  t.match(d, { partitions: 1, partitionInfo: [{ startOffset: 0, endOffset: 3 }] }, 'nothing changed')
  t.equal((await admin.admin.describeGroup('acl-orders', 'billing')).partitions[0]!.committed, 3)

  t.match(await admin.admin.resetGroup('acl-orders', 'billing', 'earliest'), { partitions: [{ from: 3, to: 0 }] }, 'admin may reset')
  t.match(await admin.admin.alterTopic('acl-orders', { partitions: 2 }), { partitions: 2 }, 'admin may alter')
  t.match(await admin.admin.purgeTopic('acl-orders'), { partitions: [{ startOffset: 3 }, { startOffset: 0 }] }, 'admin may purge')
  t.match(await admin.admin.deleteGroup('acl-orders', 'billing'), { partitions: 2 }, 'admin may delete')
})
