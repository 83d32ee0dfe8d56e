// Test traffic from KafkaJS, the Node.js client, with its defaults but the partitioner named
// first: "default" (Java-compatible murmur2, KafkaJS 2's default) or "legacy" (KafkaJS 1's,
// `Partitioners.LegacyPartitioner`, a murmur2 of its own). No idempotence, acks from every
// in-sync replica. One record per stdin line "topic<TAB>key<TAB>timestampMs<TAB>value", an
// empty key for none; an empty line ends a minute, whose records are all on the broker before
// the next is sent. Prints the count sent. Used by tests/producers.py (`produce_kafkajs`).
const { readFileSync } = require('fs')
const { Kafka, Partitioners, logLevel } = require('kafkajs')

async function main () {
  const [partitioner, bootstrap] = process.argv.slice(2)
  const chosen = { default: Partitioners.DefaultPartitioner, legacy: Partitioners.LegacyPartitioner }
  if (!(partitioner in chosen)) throw new Error(`partitioner: default or legacy, not ${partitioner}`)
  const kafka = new Kafka({ clientId: 'livewatch-test-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN })
  const producer = kafka.producer({ createPartitioner: chosen[partitioner] })
  await producer.connect()
  let sent = 0
  let minute = new Map() // topic -> messages, in the order read
  const flush = async () => {
    if (minute.size === 0) return
    const topicMessages = [...minute].map(([topic, messages]) => ({ topic, messages }))
    await producer.sendBatch({ topicMessages })
    for (const { messages } of topicMessages) sent += messages.length
    minute = new Map()
  }
  for (const line of readFileSync(0, 'utf8').split('\n')) {
    if (line === '') {
      await flush()
      continue
    }
    const [topic, key, ms, ...rest] = line.split('\t')
    const message = { value: rest.join('\t'), timestamp: ms }
    if (key !== '') message.key = key
    if (!minute.has(topic)) minute.set(topic, [])
    minute.get(topic).push(message)
  }
  await flush()
  await producer.disconnect()
  console.log(sent)
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
