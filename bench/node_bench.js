'use strict'
// bench/node.sh's body: N 100-byte records produced and consumed by Krafty (the Krafty API
// and its kafkajs-shaped API) and by kafkajs, one after the other, each on a topic of its own.
// CPU is the process's (user + system, every thread, the addon's runtime included).
const path = require('node:path')
const root = path.join(__dirname, '..', 'bindings', 'node')
const krafty = require(root)
const kafkajs = require(path.join(root, 'node_modules', 'kafkajs'))

const [bootstrap, nArg] = process.argv.slice(2)
const N = Number(nArg || 1000000)
// 5,000 records of 100 bytes: one kafkajs request under the broker's 1 MiB message.max.bytes.
const CHUNK = 5000
const value = Buffer.alloc(100, 120)
const rows = []

async function measure (name, fn) {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await fn()
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  const cpuSecs = (cpu.user + cpu.system) / 1e6
  rows.push({ client: name, 'records/s': Math.round(N / secs), seconds: secs.toFixed(2), 'cpu s': cpuSecs.toFixed(2) })
  console.error(`${name}: ${Math.round(N / secs)} records/s, ${cpuSecs.toFixed(2)} cpu s`)
}

const topic = (name) => `bench-node-${name}-${Date.now()}`

async function kraftyProduce (t) {
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': bootstrap, acks: '1', 'linger.ms': 5 })
  const pending = []
  for (let sent = 0; sent < N; sent += CHUNK) {
    const records = []
    for (let i = 0; i < Math.min(CHUNK, N - sent); i++) records.push({ topic: t, value })
    pending.push(p.sendBatch(records))
    if (pending.length >= 8) await pending.shift()
  }
  await Promise.all(pending)
  await p.close()
}

async function kraftyConsume (t) {
  const c = new krafty.KafkaConsumer({ 'bootstrap.servers': bootstrap, 'auto.offset.reset': 'earliest', 'max.poll.records': 10000 })
  await c.assign([{ topic: t, partition: 0 }])
  let n = 0
  while (n < N) n += (await c.poll(1000)).length
  await c.close()
}

async function kafkajsProduce (kafka, t) {
  const p = kafka.producer()
  await p.connect()
  const pending = []
  for (let sent = 0; sent < N; sent += CHUNK) {
    const messages = []
    for (let i = 0; i < Math.min(CHUNK, N - sent); i++) messages.push({ value })
    pending.push(p.send({ topic: t, acks: 1, messages }))
    if (pending.length >= 8) await pending.shift()
  }
  await Promise.all(pending)
  await p.disconnect()
}

async function kafkajsConsume (kafka, t) {
  const c = kafka.consumer({ groupId: `bench-${t}`, maxBytes: 64 << 20, maxBytesPerPartition: 16 << 20 })
  await c.connect()
  await c.subscribe({ topics: [t], fromBeginning: true })
  let n = 0
  await new Promise((resolve, reject) => {
    c.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        n += batch.messages.length
        if (n >= N) resolve()
      }
    }).catch(reject)
  })
  await c.disconnect()
}

async function main () {
  const admin = new krafty.AdminClient({ 'bootstrap.servers': bootstrap })
  const [t1, t2, t3] = [topic('krafty'), topic('kafkajs'), topic('krafty-kjs')]
  await admin.createTopics([t1, t2, t3].map(t => ({ topic: t, numPartitions: 1, replicationFactor: 1 })))
  await admin.close()
  const kjs = new kafkajs.Kafka({ clientId: 'bench', brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING })
  const kjsShaped = new krafty.Kafka({ clientId: 'bench', brokers: [bootstrap] })

  await measure('Krafty producer (sendBatch of 5,000)', () => kraftyProduce(t1))
  await measure('kafkajs producer (send of 5,000)', () => kafkajsProduce(kjs, t2))
  await measure('Krafty kafkajs-shaped producer (send of 5,000)', () => kafkajsProduce(kjsShaped, t3))
  await measure('Krafty consumer (poll)', () => kraftyConsume(t1))
  await measure('kafkajs consumer (eachBatch)', () => kafkajsConsume(kjs, t2))
  await measure('Krafty kafkajs-shaped consumer (eachBatch)', () => kafkajsConsume(kjsShaped, t3))
  console.log(`${N} records of 100 bytes, one partition, acks=1`)
  console.table(rows)
}

main().catch(e => { console.error(e); process.exit(1) })
