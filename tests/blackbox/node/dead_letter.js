// SPDX-License-Identifier: MIT
// amqplib dead-lettering cases for Leveret's black-box tests (55_dead_letter.py):
//   node dead_letter.js PORT CASE
// Prints "ok CASE" and exits 0 when the case passes; prints the failure and exits 1
// otherwise. Every case ends within TIMEOUT_MS.
'use strict';

const amqp = require('amqplib');
const assert = require('assert/strict');

const TIMEOUT_MS = 15000;
const [port, which] = process.argv.slice(2);
const url = `amqp://guest:guest@127.0.0.1:${port}/?heartbeat=0`;

// Resolves with the first message a consumer on `queue` gets (acked).
function first(ch, queue) {
  return new Promise((resolve, reject) => {
    ch.consume(queue, (msg) => {
      if (msg === null) return reject(new Error(`consumer of ${queue} cancelled by the broker`));
      ch.ack(msg);
      resolve(msg);
    }).catch(reject);
  });
}

const cases = {
  // A consumer nacks with requeue=false; the message lands in the dead-letter
  // queue with one x-death entry and the x-first-death-* headers.
  async nack_to_dlq(conn) {
    const ch = await conn.createChannel();
    await ch.assertExchange('js.dlx', 'fanout', { durable: false });
    await ch.assertQueue('js.dlq');
    await ch.bindQueue('js.dlq', 'js.dlx', '');
    await ch.assertQueue('js.work', { deadLetterExchange: 'js.dlx' });
    const dead = first(ch, 'js.dlq');
    const seen = new Promise((resolve, reject) => {
      ch.consume('js.work', (msg) => {
        if (msg === null) return reject(new Error('work consumer cancelled'));
        ch.nack(msg, false, false);
        resolve(msg);
      }).catch(reject);
    });
    ch.sendToQueue('js.work', Buffer.from('js-msg'), {
      contentType: 'text/plain', expiration: '60000', headers: { mine: 'kept' },
    });
    await seen;
    const m = await dead;
    assert.equal(m.content.toString(), 'js-msg');
    assert.equal(m.fields.exchange, 'js.dlx');
    assert.equal(m.fields.routingKey, 'js.work');
    assert.equal(m.properties.contentType, 'text/plain');
    assert.equal(m.properties.expiration, undefined, 'expiration is removed');
    const h = m.properties.headers;
    assert.equal(h.mine, 'kept');
    assert.equal(h['x-first-death-queue'], 'js.work');
    assert.equal(h['x-first-death-reason'], 'rejected');
    assert.equal(h['x-first-death-exchange'], '');
    assert.ok(Array.isArray(h['x-death']), 'x-death is an array');
    assert.equal(h['x-death'].length, 1);
    const d = h['x-death'][0];
    assert.equal(d.queue, 'js.work');
    assert.equal(d.reason, 'rejected');
    assert.equal(d.count, 1);
    assert.equal(d.exchange, '');
    assert.deepEqual(d['routing-keys'], ['js.work']);
    assert.equal(d['original-expiration'], '60000');
    assert.equal(d.time['!'], 'timestamp');
    assert.ok(Math.abs(d.time.value - Date.now() / 1000) < 60, `time ${d.time.value} is now`);
    const q = await ch.checkQueue('js.work');
    assert.equal(q.messageCount, 0);
  },
};

async function main() {
  const fn = cases[which];
  if (!fn) {
    console.error(`unknown case ${which}; cases: ${Object.keys(cases).join(' ')}`);
    process.exit(64);
  }
  const timer = setTimeout(() => {
    console.error(`case ${which} timed out after ${TIMEOUT_MS} ms`);
    process.exit(2);
  }, TIMEOUT_MS);
  const conn = await amqp.connect(url);
  conn.on('error', (e) => console.error('connection error:', e.message));
  await fn(conn);
  await conn.close();
  clearTimeout(timer);
  console.log(`ok ${which}`);
}

main().catch((e) => {
  console.error(`case ${which} failed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
