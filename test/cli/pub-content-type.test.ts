/**
 * `skiff pub` and the content-type header consumers decode by: --content-type
 * sets it; without it a JSON object or array goes as application/json and
 * anything else as text. Checked on what a real broker delivers.
 */
import t from 'tap'
import { skiff } from '../e2e/cli-run.js'
import { Reader, startTestBroker } from '../e2e/helpers.js'

t.test('content types of what skiff pub sends', async (t) => {
  const tb = await startTestBroker(t, 1)
  const url = tb.url
  const client = await tb.client()
  const reader = new Reader(await client.subscribe('typed', { group: 'check', from: 'earliest' }))
  const next = async () => {
    const [m] = await reader.take(1)
    m!.ack()
    return { type: m!.headers['content-type'], value: m!.decode() }
  }
  const pub = async (...args: string[]) => {
    const r = await skiff(['pub', 'typed', ...args], { url })
    t.equal(r.code, 0, `skiff pub ${args.join(' ')}: ${r.err}`)
  }

  await pub('{"order":42,"items":["a"]}')
  t.same(await next(), { type: 'application/json', value: { order: 42, items: ['a'] } }, 'a JSON object')
  await pub(' [1, 2]')
  t.same(await next(), { type: 'application/json', value: [1, 2] }, 'a JSON array')
  await pub('42')
  t.same(await next(), { type: 'text/plain; charset=utf-8', value: '42' }, 'a number typed on the command line stays text')
  await pub('{not json')
  t.same(await next(), { type: 'text/plain; charset=utf-8', value: '{not json' }, 'looks like JSON, is not: text')
  await pub('a,b,c', '--content-type', 'text/csv')
  t.same(await next(), { type: 'text/csv', value: 'a,b,c' }, '--content-type')
  await pub('{"a":1}', '--content-type', 'text/plain')
  t.same(await next(), { type: 'text/plain', value: '{"a":1}' }, '--content-type wins over detection')
  await pub('"quoted"', '--content-type', 'application/json')
  t.same(await next(), { type: 'application/json', value: 'quoted' }, 'a JSON string when asked for')

  const r = await skiff(['pub', 'typed'], { url, stdin: '{"n":1}\nplain words\n[2]\n' })
  t.equal(r.code, 0, r.err)
  t.same([await next(), await next(), await next()], [
    { type: 'application/json', value: { n: 1 } },
    { type: 'text/plain; charset=utf-8', value: 'plain words' },
    { type: 'application/json', value: [2] },
  ], 'stdin: each line on its own')
})

t.test('content types that cannot be right are refused', async (t) => {
  const tb = await startTestBroker(t, 1)
  const url = tb.url
  let r = await skiff(['pub', 'strict', 'not json', '--content-type', 'application/json'], { url })
  t.same(r, { code: 1, out: '', err: 'skiff pub: the message "not json" is not JSON, but its content-type is application/json\n' })
  r = await skiff(['pub', 'strict', 'x', '--content-type', 'json'], { url })
  t.same(r, { code: 1, out: '', err: 'skiff pub: --content-type "json" must be a media type such as application/json or text/csv\n' })
  r = await skiff(['pub', 'strict', 'x', '--content-type', 'text/csv', '--header', 'content-type=text/plain'], { url })
  t.same(r, { code: 1, out: '', err: 'skiff pub: --content-type text/csv and --header content-type=text/plain disagree; give one\n' })

  r = await skiff(['pub', 'strict', '--content-type', 'application/json', '--json'], { url, stdin: '{"ok":1}\n\n{"ok":2\n{"ok":3}\n' })
  t.equal(r.code, 1)
  t.same(r.out, '{"topic":"strict","partition":0,"offset":0}\n', 'the line before the bad one was published')
  t.equal(r.err, 'skiff pub: line 3: the message "{\\"ok\\":2" is not JSON, but its content-type is application/json; the 1 message before it was published\n')
  const client = await tb.client()
  const d = await client.admin.describeTopic('strict')
  t.equal(d.partitionInfo![0]!.endOffset, 1, 'nothing after it')
})

t.test('the summary gives the size in human units', async (t) => {
  const tb = await startTestBroker(t, 1)
  const r = await skiff(['pub', 'sized', 'x'.repeat(512), '--count', '2048'], { url: tb.url })
  t.same(r, { code: 0, out: 'published 2048 messages (1 MiB) to sized (partition 0 offsets 0-2047)\n', err: '' })
})
