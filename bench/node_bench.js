'use strict'
// bench/node.sh's body: N 100-byte records produced and consumed by Krafty (the Krafty API
// and its kafkajs-shaped API), kafkajs, @platformatic/kafka and @confluentinc/kafka-javascript
// (its librdkafka-style API and its KafkaJS-compatible API), one after the other, each on a
// topic of its own. CPU is the process's (user + system, every thread, the addon's runtime and
// librdkafka's threads included). A peer that is not installed (bench/node_peers/) gets a row
// saying why; the others still run.
const path = require('node:path')
const root = path.join(__dirname, '..', 'bindings', 'node')
const krafty = require(root)
const kafkajs = require(path.join(root, 'node_modules', 'kafkajs'))

// Resolved from bench/node_peers (@platformatic/kafka is ESM: Node >= 20.19 requires it).
const peerRequire = require('node:module').createRequire(path.join(__dirname, 'node_peers', 'package.json'))
function peer (name) {
  try {
    return { mod: peerRequire(name) }
  } catch (e) {
    return { missing: `${name} not installed (${String(e.message).split('\n')[0]})` }
  }
}
const platformatic = peer('@platformatic/kafka')
const confluent = peer('@confluentinc/kafka-javascript')

const [bootstrap, nArg] = process.argv.slice(2)
const N = Number(nArg || 1000000)
// 5,000 records of 100 bytes: one kafkajs request under the broker's 1 MiB message.max.bytes.
const CHUNK = 5000
const value = Buffer.alloc(100, 120)
const rows = []

// The non-zero Kafka error codes anywhere in a peer's error (its responses, its causes).
function errorCodes (v, seen = new Set()) {
  if (v === null || typeof v !== 'object' || seen.has(v)) return []
  seen.add(v)
  const own = typeof v.errorCode === 'number' && v.errorCode !== 0 ? [v.errorCode] : []
  return own.concat(...Object.values(v).map(x => errorCodes(x, seen)), ...(v.errors || []).map(x => errorCodes(x, seen)))
}

async function measure (name, fn, missing) {
  if (missing) {
    rows.push({ client: name, 'records/s': '-', seconds: '-', 'cpu s': '-', note: missing })
    console.error(`${name}: skipped, ${missing}`)
    return
  }
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  try {
    await fn()
  } catch (e) {
    const codes = [...new Set(errorCodes(e))]
    const why = `failed: ${e && e.message}${codes.length ? ` (Kafka error code ${codes.join(', ')})` : ''}`
    rows.push({ client: name, 'records/s': '-', seconds: '-', 'cpu s': '-', note: why })
    console.error(`${name}: ${why}`)
    return
  }
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

// @platformatic/kafka: producer.send of 5,000 (its bulk API), 8 in flight as above; Buffers
// need no serializer.
async function platformaticProduce (t) {
  const { Producer } = platformatic.mod
  const p = new Producer({ clientId: 'bench', bootstrapBrokers: [bootstrap], acks: 1, idempotent: false, autocreateTopics: false })
  const pending = []
  for (let sent = 0; sent < N; sent += CHUNK) {
    const messages = []
    for (let i = 0; i < Math.min(CHUNK, N - sent); i++) messages.push({ topic: t, partition: 0, value })
    pending.push(p.send({ messages }))
    if (pending.length >= 8) await pending.shift()
  }
  await Promise.all(pending)
  await p.close()
}

// @platformatic/kafka: its consumer stream (a group member, mode 'earliest': every assigned
// partition from its first offset, no commits), one 'data' per record, its value a Buffer (no
// deserializer). Each record must be the next offset of partition 0, and the values must add
// up to N x 100 bytes: a gap, a duplicate or a short value fails the row. (1.35 writes the
// topic id where Fetch v12 has the topic name: it needs a broker serving Fetch v13+, as the
// dev broker does since it names topics by id there.)
async function platformaticConsume (t) {
  const { Consumer } = platformatic.mod
  const c = new Consumer({ clientId: 'bench', groupId: `bench-${t}`, bootstrapBrokers: [bootstrap], maxBytes: 64 << 20, maxBytesPerPartition: 16 << 20 })
  const stream = await c.consume({ topics: [t], mode: 'earliest', autocommit: false })
  let n = 0
  let bytes = 0
  try {
    await new Promise((resolve, reject) => {
      stream.on('error', reject)
      stream.on('data', (m) => {
        if (m.partition !== 0 || m.offset !== BigInt(n)) {
          reject(new Error(`record ${n}: got partition ${m.partition} offset ${m.offset}`))
          return
        }
        bytes += m.value.length
        if (++n === N) resolve()
      })
    })
    if (bytes !== N * value.length) throw new Error(`${n} records of ${bytes} bytes, expected ${N * value.length}`)
  } finally {
    await stream.close()
    await c.close(true)
  }
}

// @confluentinc/kafka-javascript, librdkafka-style API: produce() per record with delivery
// reports (dr_cb), polled every 10 ms; on a full local queue, wait for reports and go on.
async function confluentProduce (t) {
  const { Producer, CODES } = confluent.mod
  const p = new Producer({ 'bootstrap.servers': bootstrap, acks: 1, 'linger.ms': 5, dr_cb: true, 'enable.idempotence': false })
  await new Promise((resolve, reject) => p.connect({}, e => (e ? reject(e) : resolve())))
  p.setPollInterval(10)
  let acked = 0
  let failed = null
  const done = new Promise((resolve, reject) => {
    p.on('delivery-report', (err) => {
      if (err) failed = failed || err
      if (++acked === N) (failed ? reject(failed) : resolve())
    })
  })
  for (let i = 0; i < N; i++) {
    try {
      p.produce(t, 0, value, null)
    } catch (e) {
      if (e.code !== CODES.ERRORS.ERR__QUEUE_FULL) throw e
      p.poll()
      await new Promise(resolve => setTimeout(resolve, 1))
      i--
    }
  }
  await done
  await new Promise((resolve, reject) => p.disconnect(e => (e ? reject(e) : resolve())))
}

// @confluentinc/kafka-javascript, librdkafka-style API: consume(10000, cb) in a loop (its
// batch read), assigned partition 0 from offset 0, fetch sizes as kafkajs's above. Waiting
// for the first record only, as its KafkaJS-compatible layer sets it (else every call waits
// out the timeout once the fetched records are drained).
async function confluentConsume (t) {
  const { KafkaConsumer } = confluent.mod
  const c = new KafkaConsumer({
    'bootstrap.servers': bootstrap,
    'group.id': `bench-${t}`,
    'enable.auto.commit': false,
    'fetch.max.bytes': 64 << 20,
    'max.partition.fetch.bytes': 16 << 20
  }, { 'auto.offset.reset': 'earliest' })
  await new Promise((resolve, reject) => c.connect({}, e => (e ? reject(e) : resolve())))
  c.assign([{ topic: t, partition: 0, offset: 0 }])
  c.setDefaultConsumeTimeout(1000)
  c.setDefaultIsTimeoutOnlyForFirstMessage(true)
  let n = 0
  while (n < N) {
    n += await new Promise((resolve, reject) => c.consume(10000, (e, msgs) => (e ? reject(e) : resolve(msgs.length))))
  }
  await new Promise((resolve, reject) => c.disconnect(e => (e ? reject(e) : resolve())))
}

// @confluentinc/kafka-javascript's KafkaJS-compatible client, as kafkajs above but with acks,
// fromBeginning and autoCommit in its config (its send, subscribe and run reject them).
function confluentKafka () {
  const { Kafka } = confluent.mod.KafkaJS
  return new Kafka({ kafkaJS: { clientId: 'bench', brokers: [bootstrap], logLevel: 0 } })
}

async function confluentKjsProduce (t) {
  const p = confluentKafka().producer({ kafkaJS: { acks: 1, idempotent: false }, 'linger.ms': 5 })
  await p.connect()
  const pending = []
  for (let sent = 0; sent < N; sent += CHUNK) {
    const messages = []
    for (let i = 0; i < Math.min(CHUNK, N - sent); i++) messages.push({ value })
    pending.push(p.send({ topic: t, messages }))
    if (pending.length >= 8) await pending.shift()
  }
  await Promise.all(pending)
  await p.disconnect()
}

async function confluentKjsConsume (t) {
  const c = confluentKafka().consumer({
    kafkaJS: { groupId: `bench-${t}`, fromBeginning: true, autoCommit: false },
    'js.consumer.max.batch.size': 10000,
    'fetch.max.bytes': 64 << 20,
    'max.partition.fetch.bytes': 16 << 20
  })
  await c.connect()
  await c.subscribe({ topics: [t] })
  let n = 0
  await new Promise((resolve, reject) => {
    c.run({
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
  const [t1, t2, t3, t4, t5, t6] = ['krafty', 'kafkajs', 'krafty-kjs', 'platformatic', 'confluent', 'confluent-kjs'].map(topic)
  await admin.createTopics([t1, t2, t3, t4, t5, t6].map(t => ({ topic: t, numPartitions: 1, replicationFactor: 1 })))
  await admin.close()
  const kjs = new kafkajs.Kafka({ clientId: 'bench', brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING })
  const kjsShaped = new krafty.Kafka({ clientId: 'bench', brokers: [bootstrap] })

  await measure('Krafty producer (sendBatch of 5,000)', () => kraftyProduce(t1))
  await measure('kafkajs producer (send of 5,000)', () => kafkajsProduce(kjs, t2))
  await measure('Krafty kafkajs-shaped producer (send of 5,000)', () => kafkajsProduce(kjsShaped, t3))
  await measure('@platformatic/kafka producer (send of 5,000)', () => platformaticProduce(t4), platformatic.missing)
  await measure('confluent producer (produce + delivery reports)', () => confluentProduce(t5), confluent.missing)
  await measure('confluent KafkaJS-compatible producer (send of 5,000)', () => confluentKjsProduce(t6), confluent.missing)
  await measure('Krafty consumer (poll)', () => kraftyConsume(t1))
  await measure('kafkajs consumer (eachBatch)', () => kafkajsConsume(kjs, t2))
  await measure('Krafty kafkajs-shaped consumer (eachBatch)', () => kafkajsConsume(kjsShaped, t3))
  await measure('@platformatic/kafka consumer (stream)', () => platformaticConsume(t4), platformatic.missing)
  await measure('confluent consumer (consume of 10,000)', () => confluentConsume(t5), confluent.missing)
  await measure('confluent KafkaJS-compatible consumer (eachBatch)', () => confluentKjsConsume(t6), confluent.missing)
  console.log(`${N} records of 100 bytes, one partition, acks=1`)
  console.table(rows)
  process.exit(0) // a failed peer's client may still hold handles
}

main().catch(e => { console.error(e); process.exit(1) })
