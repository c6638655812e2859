// Against PyTorch: a small CNN trained by torch with BatchNorm on the full batch (fixtures/syncbn) is reproduced by
// SyncBN over 4 thread ranks.
import { test } from 'node:test';
import { TORCH_FIXTURE, checkAgainstTorch, loadFixture, torchRun } from './torch-lib.js';

test(
  '4 thread ranks × 2 samples reproduce torch (BatchNorm on 8) for 5 SGD-momentum steps: logits, loss, ' +
    'gradients, running stats, parameters',
  async () => {
    checkAgainstTorch(await torchRun('threads', [2, 2, 2, 2]), loadFixture(TORCH_FIXTURE), '4 × 2');
  },
);
