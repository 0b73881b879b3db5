'use strict'
// The kafkajs-shaped API (new Kafka(...)) over the Krafty clients.
const test = require('node:test')
const assert = require('node:assert/strict')
const { krafty, cluster, topicName, until } = require('./helpers.js')

let c, kafka
test.before(async () => {
  c = await cluster()
  kafka = new krafty.Kafka({ clientId: 'node-test', brokers: [c.bootstrap] })
})
test.after(async () => { await c.stop() })

test('admin createTopics / fetchTopicMetadata / fetchTopicOffsets / deleteTopics', async () => {
  const admin = kafka.admin()
  await admin.connect()
  const topic = topicName('adm')
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] }), true)
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] }), false)
  assert.ok((await admin.listTopics()).includes(topic))
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.equal(meta.topics[0].name, topic)
  assert.deepEqual(meta.topics[0].partitions.map(p => [p.partitionId, p.partitionErrorCode]), [[0, 0], [1, 0], [2, 0]])
  assert.deepEqual(await admin.fetchTopicOffsets(topic), [0, 1, 2].map(partition => ({ partition, offset: '0', high: '0', low: '0' })))
  await admin.deleteTopics({ topics: [topic] })
  await until(async () => !(await admin.listTopics()).includes(topic), 10000, 'the topic is deleted')
  await admin.disconnect()
})

test('producer.send resolves to kafkajs RecordMetadata; sendBatch spans topics', async () => {
  const admin = kafka.admin()
  const [t1, t2] = [topicName('a'), topicName('b')]
  await admin.createTopics({ topics: [{ topic: t1, numPartitions: 2 }, { topic: t2, numPartitions: 1 }] })
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const r1 = await producer.send({ topic: t1, messages: [{ value: 'a', partition: 1 }, { value: 'b', partition: 1 }, { key: 'k', value: 'c', partition: 0 }] })
  assert.deepEqual(r1.sort((x, y) => x.partition - y.partition), [
    { topicName: t1, partition: 0, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '-1' },
    { topicName: t1, partition: 1, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '-1' }
  ])
  const r2 = await producer.sendBatch({
    acks: 1,
    compression: krafty.CompressionTypes.GZIP,
    topicMessages: [{ topic: t1, messages: [{ value: 'd', partition: 1 }] }, { topic: t2, messages: [{ value: 'e', headers: { h: 'v' } }] }]
  })
  assert.deepEqual(r2.map(r => [r.topicName, r.partition, r.baseOffset]), [[t1, 1, '2'], [t2, 0, '0']])
  await producer.disconnect()
  await admin.disconnect()
})

test('consumer.run eachMessage: exact messages in order, GROUP_JOIN, commits, fetchOffsets, resetOffsets', async () => {
  const admin = kafka.admin()
  const topic = topicName('run')
  const groupId = topicName('g')
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
  const producer = kafka.producer()
  await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, headers: { i: String(i) } })) })

  const consumer = kafka.consumer({ groupId })
  const joins = []
  consumer.on(consumer.events.GROUP_JOIN, e => joins.push(e))
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const seen = []
  await consumer.run({
    eachMessage: async ({ topic: t, partition, message }) => {
      seen.push([t, partition, message.offset, message.key.toString(), message.value.toString(), message.headers.i.toString()])
    }
  })
  await until(() => seen.length >= 5, 20000, '5 messages')
  assert.deepEqual(seen, Array.from({ length: 5 }, (_, i) => [topic, 0, String(i), `k${i}`, `v${i}`, String(i)]))
  await until(() => joins.length >= 1, 5000, 'GROUP_JOIN')
  assert.equal(joins[0].type, 'consumer.group_join')
  assert.equal(joins[0].payload.groupId, groupId)
  assert.deepEqual(joins[0].payload.memberAssignment, { [topic]: [0] })
  assert.ok(joins[0].payload.memberId.length > 0)

  await until(async () => {
    const o = await admin.fetchOffsets({ groupId, topics: [topic] })
    return o[0].partitions[0].offset === '5'
  }, 10000, 'auto-commit of offset 5')
  const groups = await admin.listGroups()
  assert.ok(groups.groups.some(g => g.groupId === groupId))
  const described = await admin.describeGroups([groupId])
  assert.equal(described.groups[0].members.length, 1)
  await consumer.disconnect()

  await admin.resetOffsets({ groupId, topic, earliest: true })
  assert.deepEqual(await admin.fetchOffsets({ groupId, topics: [topic] }), [{ topic, partitions: [{ partition: 0, offset: '0', metadata: null }] }])
  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] })
  const again = kafka.consumer({ groupId })
  const values = []
  await again.subscribe({ topics: [topic] })
  await again.run({ eachBatch: async ({ batch }) => { for (const m of batch.messages) values.push(m.value.toString()) } })
  await until(() => values.length >= 2, 20000, 'the last 2')
  assert.deepEqual(values, ['v3', 'v4'])
  await again.disconnect()
  await producer.disconnect()
  await admin.disconnect()
})

test('consumer.run: a throwing eachMessage emits CRASH and the message is redelivered; seek and pause', async () => {
  const admin = kafka.admin()
  const topic = topicName('crash')
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
  const producer = kafka.producer()
  await producer.send({ topic, messages: ['a', 'b', 'c'].map(value => ({ value })) })
  const consumer = kafka.consumer({ groupId: topicName('g') })
  const crashes = []
  consumer.on(consumer.events.CRASH, e => crashes.push(e.payload))
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = []
  let failed = false
  let sought = false
  await consumer.run({
    eachMessage: async ({ message }) => {
      const v = message.value.toString()
      if (v === 'b' && !failed) { failed = true; throw new Error('boom') }
      seen.push(`${message.offset}:${v}`)
      if (v === 'c' && !sought) { sought = true; await consumer.seek({ topic, partition: 0, offset: '0' }) }
    }
  })
  await until(() => seen.length >= 6, 20000, 'redelivery and the re-read after seek')
  assert.deepEqual(seen.slice(0, 6), ['0:a', '1:b', '2:c', '0:a', '1:b', '2:c'])
  assert.equal(crashes.length, 1)
  assert.equal(crashes[0].error.message, 'boom')
  consumer.pause([{ topic }])
  assert.deepEqual(consumer.paused(), [{ topic, partitions: [] }])
  await new Promise(resolve => setTimeout(resolve, 200))
  const before = seen.length
  await producer.send({ topic, messages: [{ value: 'd' }] })
  await new Promise(resolve => setTimeout(resolve, 500))
  assert.equal(seen.length, before, 'nothing is delivered while paused')
  consumer.resume([{ topic }])
  await until(() => seen.includes('3:d'), 10000, 'd after resume')
  await consumer.disconnect()
  await producer.disconnect()
  await admin.disconnect()
})

// Two topics of 2 partitions, 2 records in each partition: `a<p>-<i>` and `b<p>-<i>`.
async function twoFilledTopics (admin, producer) {
  const [a, b] = [topicName('fromb-a'), topicName('fromb-b')]
  await admin.createTopics({ topics: [{ topic: a, numPartitions: 2 }, { topic: b, numPartitions: 2 }] })
  for (const [topic, prefix] of [[a, 'a'], [b, 'b']]) {
    await producer.send({ topic, messages: [0, 1].flatMap(p => [0, 1].map(i => ({ partition: p, value: `${prefix}${p}-${i}` }))) })
  }
  return [a, b]
}

// Subscribes a to its beginning and b to its end (two subscribe calls), runs eachMessage.
async function runFromBeginningOfA (groupId, a, b) {
  const consumer = kafka.consumer({ groupId })
  const seen = []
  const crashes = []
  consumer.on(consumer.events.CRASH, e => crashes.push(e.payload.error))
  await consumer.subscribe({ topics: [a], fromBeginning: true })
  await consumer.subscribe({ topic: b })
  await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value.toString()) } })
  return { consumer, seen, crashes }
}

test('subscribe fromBeginning is per call: a partition with no commit starts at its topic\'s beginning or end', async () => {
  const admin = kafka.admin()
  const producer = kafka.producer()
  const [a, b] = await twoFilledTopics(admin, producer)
  const { consumer, seen, crashes } = await runFromBeginningOfA(topicName('g'), a, b)
  try {
    // Once a record is delivered every assigned partition has a position: b's are at its end.
    await until(() => seen.length >= 4, 20000, 'the 4 records of a')
    await producer.send({ topic: b, messages: [{ partition: 0, value: 'b0-2' }, { partition: 1, value: 'b1-2' }] })
    await producer.send({ topic: a, messages: [{ partition: 1, value: 'a1-2' }] })
    await until(() => seen.length >= 7, 20000, 'the new records')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.deepEqual(seen.filter(v => v.startsWith('a')).sort(), ['a0-0', 'a0-1', 'a1-0', 'a1-1', 'a1-2'])
    assert.deepEqual(seen.filter(v => v.startsWith('b')).sort(), ['b0-2', 'b1-2'], 'none of b\'s old records')
    assert.deepEqual(crashes, [])
  } finally {
    await consumer.disconnect()
  }
  await producer.disconnect()
  await admin.disconnect()
})

test('subscribe fromBeginning: a committed offset wins over the topic\'s beginning or end', async () => {
  const admin = kafka.admin()
  const producer = kafka.producer()
  const [a, b] = await twoFilledTopics(admin, producer)
  const groupId = topicName('g')
  await admin.setOffsets({ groupId, topic: a, partitions: [{ partition: 0, offset: '1' }] })
  await admin.setOffsets({ groupId, topic: b, partitions: [{ partition: 0, offset: '1' }] })
  const { consumer, seen, crashes } = await runFromBeginningOfA(groupId, a, b)
  try {
    await until(() => seen.length >= 4, 20000, 'a0-1, a1-0, a1-1 and b0-1')
    await producer.send({ topic: b, messages: [{ partition: 1, value: 'b1-2' }] })
    await until(() => seen.length >= 5, 20000, 'the new record of b')
    await new Promise(resolve => setTimeout(resolve, 300))
    // a: partition 0 from its commit, 1 from the beginning; b: 0 from its commit, 1 from the end.
    assert.deepEqual(seen.slice().sort(), ['a0-1', 'a1-0', 'a1-1', 'b0-1', 'b1-2'])
    assert.deepEqual(crashes, [])
  } finally {
    await consumer.disconnect()
  }
  await until(async () => {
    const o = await admin.fetchOffsets({ groupId, topics: [a, b] })
    return JSON.stringify(o.map(t => t.partitions.map(p => p.offset))) === '[["2","2"],["2","3"]]'
  }, 10000, 'the commits of what was consumed')
  await producer.disconnect()
  await admin.disconnect()
})

test('subscribe fromBeginning: a committed offset out of the log is reset to its topic\'s beginning or end', async () => {
  const admin = kafka.admin()
  const producer = kafka.producer()
  const [a, b] = await twoFilledTopics(admin, producer)
  const groupId = topicName('g')
  await admin.setOffsets({ groupId, topic: a, partitions: [{ partition: 0, offset: '100' }] })
  await admin.setOffsets({ groupId, topic: b, partitions: [{ partition: 0, offset: '100' }] })
  const { consumer, seen, crashes } = await runFromBeginningOfA(groupId, a, b)
  try {
    // a0 and b0 are fetched at 100 together and both answered OFFSET_OUT_OF_RANGE; nothing is
    // delivered until both are reset, so once a0-0 is, b0 is at its end.
    await until(() => seen.includes('a0-0'), 20000, 'a0 from its beginning')
    await producer.send({ topic: b, messages: [{ partition: 0, value: 'b0-2' }] })
    await until(() => seen.length >= 5, 20000, 'the new record of b')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.deepEqual(seen.slice().sort(), ['a0-0', 'a0-1', 'a1-0', 'a1-1', 'b0-2'])
    assert.deepEqual(crashes, [])
  } finally {
    await consumer.disconnect()
  }
  await producer.disconnect()
  await admin.disconnect()
})
