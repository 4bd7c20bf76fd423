/** The shopper: logs in, places orders (good, invalid, declined card), and polls their status until final. */
import { setTimeout as sleep } from 'node:timers/promises'

const base = `http://127.0.0.1:${process.argv[2]}`
const call = async (method, path, token, body) => {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { code: res.status, body: await res.json() }
}

const badLogin = await call('POST', '/login', undefined, { user: 'alice', password: 'guess' })
const noToken = await call('POST', '/orders', undefined, { items: [] })
const { body: login } = await call('POST', '/login', undefined, { user: 'alice', password: 'wonderland' })
const token = login.token
const plan = {
  book: { items: [{ sku: 'sku-book', qty: 2 }], card: '4242-4242-4242-4242' },
  lamp: { items: [{ sku: 'sku-lamp', qty: 1 }, { sku: 'sku-mug', qty: 4 }], card: '4242-4242-4242-4242' },
  mug: { items: [{ sku: 'sku-mug', qty: 1 }], card: '4242-4242-4242-4242' },
  invalid: { items: [{ sku: 'sku-book', qty: 0 }], card: '4242-4242-4242-4242' },
  declined: { items: [{ sku: 'sku-lamp', qty: 1 }], card: '4000-0000-0000-0002' },
}
const ids = {}
for (const [name, order] of Object.entries(plan)) {
  const r = await call('POST', '/orders', token, order)
  if (r.code !== 202) throw new Error(`POST /orders answered ${r.code}`)
  ids[name] = r.body.id
  console.log(`placed ${name}: ${r.body.id}`)
}
const FINAL = new Set(['completed', 'rejected', 'failed'])
const final = {}
for (let i = 0; i < 200 && Object.keys(final).length < Object.keys(ids).length; i++) {
  for (const [name, id] of Object.entries(ids)) {
    if (final[name]) continue
    const r = await call('GET', `/orders/${id}`, token)
    if (r.code === 200 && FINAL.has(r.body.status)) {
      final[name] = r.body
      console.log(`${name}: ${r.body.history.join(' -> ')}`)
    }
  }
  await sleep(100)
}
const otherUser = (await call('POST', '/login', undefined, { user: 'bob', password: 'builder' })).body.token
const notYours = await call('GET', `/orders/${ids.book}`, otherUser)
console.log(`@result ${JSON.stringify({ badLogin: badLogin.code, noToken: noToken.code, notYours: notYours.code, final })}`) // what run.mjs checks
