// JSON Schema (draft-07) of results.json: a DemoReport (src/demo/types.ts) without the gallery.

const num = { type: 'number' } as const;
const unit = { type: 'number', minimum: 0, maximum: 1 } as const;
const count = { type: 'integer', minimum: 1 } as const;

const epoch = {
  type: 'object',
  additionalProperties: false,
  required: ['epoch', 'trainLoss', 'valLoss', 'miou', 'pixelAccuracy', 'trainSeconds', 'imagesPerSec'],
  properties: {
    epoch: count,
    trainLoss: num,
    valLoss: num,
    miou: unit,
    pixelAccuracy: unit,
    trainSeconds: { type: 'number', minimum: 0 },
    imagesPerSec: { type: 'number', minimum: 0 },
  },
} as const;

const run = {
  type: 'object',
  additionalProperties: false,
  required: ['config', 'epochs', 'final', 'timings', 'interrupted'],
  properties: {
    config: {
      type: 'object',
      additionalProperties: false,
      required: ['norm', 'workers', 'batchPerWorker', 'globalBatch', 'seed', 'epochs'],
      properties: {
        norm: { enum: ['syncbn', 'bn', 'bigbatch', 'groupnorm'] },
        workers: count,
        batchPerWorker: count,
        globalBatch: count,
        seed: { type: 'integer', minimum: 0 },
        epochs: count,
      },
    },
    epochs: { type: 'array', items: epoch },
    final: {
      oneOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['miou', 'pixelAccuracy', 'valLoss'],
          properties: { miou: unit, pixelAccuracy: unit, valLoss: num },
        },
      ],
    },
    timings: {
      type: 'object',
      additionalProperties: false,
      required: ['wallSeconds', 'stepMsMedian', 'imagesPerSec'],
      properties: {
        wallSeconds: { type: 'number', minimum: 0 },
        stepMsMedian: { type: ['number', 'null'] },
        imagesPerSec: { type: 'number', minimum: 0 },
      },
    },
    interrupted: { type: 'boolean' },
  },
} as const;

/** The schema results.json satisfies (checked by the demo's CLI test with ajv). */
export const resultsSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'syncbn demo results.json',
  type: 'object',
  additionalProperties: false,
  required: ['settings', 'machine', 'versions', 'startedAt', 'wallSeconds', 'runs', 'partial'],
  properties: {
    settings: {
      type: 'object',
      additionalProperties: {
        oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'array', items: num }],
      },
    },
    machine: {
      type: 'object',
      additionalProperties: false,
      required: ['cpus', 'cores', 'memoryGiB', 'platform'],
      properties: { cpus: { type: 'string' }, cores: count, memoryGiB: num, platform: { type: 'string' } },
    },
    versions: {
      type: 'object',
      additionalProperties: false,
      required: ['syncbn', 'node', 'v8'],
      properties: { syncbn: { type: 'string' }, node: { type: 'string' }, v8: { type: 'string' } },
    },
    startedAt: { type: 'string', format: 'date-time' },
    wallSeconds: { type: 'number', minimum: 0 },
    runs: { type: 'array', items: run },
    partial: { type: 'boolean' },
    artifacts: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'path'],
        properties: { name: { type: 'string' }, path: { type: 'string' }, note: { type: 'string' } },
      },
    },
  },
} as const;
