/** The actuator: turns a sensor's heater on while its average is above 25 °C (off again below), publishing each command. */
import { connect } from 'skiffmq'

const THRESHOLD = 25
const client = await connect(process.env.SKIFF_URL, { name: 'actuator' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
const heaters = {} // sensor -> 'on' | 'off'
const commands = []
const producer = client.producer({ whenFull: 'wait' })
await client.subscribe('averages', { group: 'actuator', from: 'earliest' }, async (msg) => {
  const { sensor, average, n } = msg.decode()
  const want = average > THRESHOLD ? 'on' : 'off'
  if ((heaters[sensor] ?? 'off') !== want) {
    heaters[sensor] = want
    const command = { sensor, heater: want, average: Math.round(average * 100) / 100, afterReadings: n }
    commands.push(command)
    await producer.publish('commands', command, { key: sensor })
    console.log(`heater ${want} for ${sensor} (average ${command.average} after ${n} readings)`)
  }
  msg.ack()
})
console.log('subscribed to averages')

process.once('SIGTERM', async () => {
  await client.close()
  console.log(`@result ${JSON.stringify({ heaters, commands })}`) // what run.mjs checks
  process.exit(0)
})
