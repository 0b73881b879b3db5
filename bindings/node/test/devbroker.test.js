'use strict'
// The DevBroker itself: restarts with a data dir, fault injection, and the errors a user sees.
// Fault injection is the dev broker's: skipped on a real Kafka (KRAFTY_TEST_BOOTSTRAP).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { krafty, external, topicName, createTopic, pollN } = require('./helpers.js')

const { ApiKeys, KraftyError } = krafty
const opts = { skip: external ? 'fault injection and restarts need the dev broker' : false }

test('records and committed offsets survive a DevBroker restart with a data dir', opts, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'krafty-node-'))
  try {
    let broker = await krafty.DevBroker.start({ dataDir })
    const port = broker.port
    assert.equal(broker.bootstrap, `127.0.0.1:${port}`)
    const topic = await createTopic(broker.bootstrap, 1)
    const group = topicName('g')
    const p = new krafty.KafkaProducer({ 'bootstrap.servers': broker.bootstrap })
    await p.sendBatch(Array.from({ length: 6 }, (_, i) => ({ topic, value: `v${i}` })))
    await p.close()
    const config = { 'bootstrap.servers': broker.bootstrap, 'group.id': group, 'auto.offset.reset': 'earliest', 'enable.auto.commit': false }
    const c1 = new krafty.KafkaConsumer(config)
    await c1.subscribe([topic])
    const first = await pollN(c1, 6)
    assert.equal(first.length, 6)
    await c1.commit([{ topic, partition: 0, offset: 4 }])
    await c1.close()
    await broker.stop()
    await broker.stop() // idempotent

    broker = await krafty.DevBroker.start({ dataDir, port })
    try {
      const c2 = new krafty.KafkaConsumer(config)
      await c2.subscribe([topic])
      const rest = await pollN(c2, 2)
      assert.deepEqual(rest.map(r => [r.offset, r.value.toString()]), [[4, 'v4'], [5, 'v5']])
      assert.deepEqual((await c2.committed([{ topic, partition: 0 }])).map(o => o.offset), [4])
      await c2.close()
    } finally {
      await broker.stop()
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
})

test('faults: a retriable produce error is retried; a fatal one rejects with its Kafka code', opts, async () => {
  const broker = await krafty.DevBroker.start({ config: { 'num.partitions': 1 } })
  try {
    const topic = await createTopic(broker.bootstrap, 1)
    const p = new krafty.KafkaProducer({ 'bootstrap.servers': broker.bootstrap, 'retry.backoff.ms': 10 })
    await p.send({ topic, value: 'warm-up' })
    broker.failNext(ApiKeys.Produce, 6, 2, topic) // NOT_LEADER_OR_FOLLOWER, twice
    assert.equal(broker.errorsPending(), 2)
    const m = await p.send({ topic, value: 'retried' })
    assert.equal(m.offset, 1)
    assert.equal(broker.errorsFired(), 2)
    assert.equal(broker.errorsPending(), 0)

    broker.failNext(ApiKeys.Produce, 87, 1, topic) // INVALID_RECORD: not retriable
    await assert.rejects(p.send({ topic, value: 'refused' }), (e) => {
      assert.ok(e instanceof KraftyError)
      assert.equal(e.code, 87)
      assert.equal(e.type, 'INVALID_RECORD')
      assert.equal(e.retriable, false)
      assert.equal(e.topic, topic)
      assert.equal(e.partition, 0)
      return true
    })
    assert.equal((await p.send({ topic, value: 'after' })).offset, 2)
    await p.close()

    // A consumer's commit meets a coordinator error it cannot retry.
    const c = new krafty.KafkaConsumer({ 'bootstrap.servers': broker.bootstrap, 'group.id': topicName('g'), 'auto.offset.reset': 'earliest' })
    await c.subscribe([topic])
    await pollN(c, 3)
    broker.failNext(ApiKeys.OffsetCommit, 28, 1) // INVALID_COMMIT_OFFSET_SIZE
    await assert.rejects(c.commit(), (e) => e instanceof KraftyError && e.code === 28 && e.type === 'INVALID_COMMIT_OFFSET_SIZE' && e.retriable === false)
    await c.commit()
    await c.close()
  } finally {
    await broker.stop()
  }
})

test('faults: latency and dropped connections are survived; clearFaults removes pending ones', opts, async () => {
  const broker = await krafty.DevBroker.start()
  try {
    const topic = await createTopic(broker.bootstrap, 1)
    const p = new krafty.KafkaProducer({ 'bootstrap.servers': broker.bootstrap, 'retry.backoff.ms': 10 })
    broker.addLatency(ApiKeys.Produce, 200)
    const t0 = Date.now()
    await p.send({ topic, value: 'slow' })
    assert.ok(Date.now() - t0 >= 190, 'the latency applied')
    broker.addLatency(ApiKeys.Produce, 0)
    broker.dropConnectionAfter(0)
    const m = await p.send({ topic, value: 'reconnected' })
    assert.equal(m.offset, 1)
    assert.equal(broker.connectionsDropped(), 1)
    broker.failNext(ApiKeys.Produce, 87, 5, topic)
    broker.clearFaults()
    assert.equal(broker.errorsPending(), 0)
    assert.equal((await p.send({ topic, value: 'clean' })).offset, 2)
    await p.close()
  } finally {
    await broker.stop()
  }
})

test('errors: an unreachable cluster rejects with a retriable network error', async () => {
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': '127.0.0.1:1', 'max.block.ms': 1000, 'request.timeout.ms': 1000 })
  await assert.rejects(p.connect(), (e) => e instanceof KraftyError && e.retriable === true && (e.code === -1 || e.code === 7))
  await p.close()
})

test('errors: a bad DevBroker setting names the property', async () => {
  await assert.rejects(krafty.DevBroker.start({ config: { 'num.partitions': 'many' } }),
    (e) => e instanceof KraftyError && e.type === 'INVALID_CONFIG' && e.property === 'num.partitions')
})

test('errors: an unknown topic in admin metadata carries UNKNOWN_TOPIC_OR_PARTITION (3)', async () => {
  const { cluster } = require('./helpers.js')
  const c = await cluster()
  try {
    const admin = new krafty.AdminClient({ 'bootstrap.servers': c.bootstrap })
    await assert.rejects(admin.describeTopics([topicName('missing')]),
      (e) => e instanceof KraftyError && e.code === 3 && e.type === 'UNKNOWN_TOPIC_OR_PARTITION' && e.retriable === true)
    const kafka = new krafty.Kafka({ clientId: 'errors', brokers: [c.bootstrap] })
    const kadmin = kafka.admin()
    await assert.rejects(kadmin.fetchTopicMetadata({ topics: [topicName('missing')] }),
      (e) => e instanceof KraftyError && e.code === 3 && e.type === 'UNKNOWN_TOPIC_OR_PARTITION')
    await kadmin.disconnect()
    await admin.close()
  } finally {
    await c.stop()
  }
})
