// The official openai npm package against a running Hearth node.
// HEARTH_URL names the node (e.g. http://127.0.0.1:PORT), HEARTH_MODEL the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';

const baseURL = process.env.HEARTH_URL + '/v1';
const model = process.env.HEARTH_MODEL || 'stories260k';
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });

test('models list includes the served model', async () => {
  const page = await client.models.list();
  const ids = page.data.map((m) => m.id);
  assert.ok(ids.includes(model), `models ${ids}`);
});

test('chat completion, not streamed', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }],
    max_tokens: 12,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
});

test('chat completion, streamed, with usage', async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Tell me about Lily' }],
    max_tokens: 10,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 10);
  // The same request, not streamed, gives the same text (greedy).
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Tell me about Lily' }],
    max_tokens: 10,
    temperature: 0,
  });
  assert.equal(r.choices[0].message.content, text);
});

test('completions and embeddings', async () => {
  const c = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.usage.completion_tokens, 5);
  const e = await client.embeddings.create({ model, input: ['a happy dog', 'a sad cat'] });
  assert.equal(e.data.length, 2);
  const v = e.data[0].embedding;
  assert.equal(v.length, 64);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
});

test('errors come back as OpenAI errors', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404,
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], temperature: 7 }),
    (err) => err instanceof OpenAI.BadRequestError && /temperature/.test(err.message),
  );
});

test('fine-tuning: files.create, fineTuning.jobs.create, retrieve until done, events, checkpoints', async () => {
  const lines = [];
  for (let i = 0; i < 12; i++) {
    lines.push(JSON.stringify({
      messages: [
        { role: 'user', content: `What is the secret word, number ${i}?` },
        { role: 'assistant', content: 'The secret word is marmalade.' },
      ],
    }));
  }
  const file = await client.files.create({
    file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'secret.jsonl'),
    purpose: 'fine-tune',
  });
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'fine-tune');

  const job = await client.fineTuning.jobs.create({
    model,
    training_file: file.id,
    suffix: 'secret',
    hyperparameters: { n_epochs: 2, batch_size: 4 },
  });
  assert.equal(job.object, 'fine_tuning.job');
  assert.ok(job.id.startsWith('ftjob-'), job.id);

  let done = job;
  for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled'].includes(done.status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    done = await client.fineTuning.jobs.retrieve(job.id);
  }
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.ok(done.fine_tuned_model, 'no fine_tuned_model');
  assert.ok(done.trained_tokens > 0);

  const events = await client.fineTuning.jobs.listEvents(job.id);
  assert.ok(events.data.length > 0);
  assert.equal(events.data[0].object, 'fine_tuning.job.event');
  const cps = await client.fineTuning.jobs.checkpoints.list(job.id);
  assert.ok(cps.data.length > 0);
  assert.equal(cps.data[0].object, 'fine_tuning.job.checkpoint');

  const page = await client.fineTuning.jobs.list({ limit: 10 });
  assert.ok(page.data.some((j) => j.id === job.id));
});
