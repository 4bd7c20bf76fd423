/** SIGKILL mid-stream: 20,000 publishes resolve, each stored once, the consumer carries on. See restart-under-load.ts. */
import t from 'tap'
import { restartUnderLoad } from './restart-under-load.js'

t.test('broker SIGKILLed and restarted under a running producer and consumer', (t) => restartUnderLoad(t, 'SIGKILL'))
