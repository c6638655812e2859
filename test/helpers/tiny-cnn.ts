// Test helper: the tiny CNN with the module names of the generator's PyTorch TinyCNN (conv1, bn1, conv2, bn2,
// fc).
import { type Tensor, Module, Conv2d, BatchNorm2d, Linear } from '../../src/index.js';
import { relu, flatten, adaptiveAvgPool2d } from '../../src/nn/functional/index.js';

/** The same module tree (and so the same state-dict names) as the generator's TinyCNN. */
export class TinyCNN extends Module {
  conv1 = this.registerModule('conv1', new Conv2d(3, 16, 3, { padding: 1 }));
  bn1 = this.registerModule('bn1', new BatchNorm2d(16));
  conv2 = this.registerModule('conv2', new Conv2d(16, 16, 3, { padding: 1 }));
  bn2 = this.registerModule('bn2', new BatchNorm2d(16));
  fc = this.registerModule('fc', new Linear(16, 10));
  forward(x: Tensor): Tensor {
    const h = relu(this.bn2.forward(this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x))))));
    return this.fc.forward(flatten(adaptiveAvgPool2d(h, 1), 1));
  }
}
