// The library's own access to Tensor's engine bookkeeping (allocation fast path, views, ownership marks);
// imported by src/autograd, src/nn and the other layers' ops, never re-exported from the package root.
export { allocTensor, viewOf, isExclusive, disposeAs, isKept, passMark, setPassMark } from './tensor.js';
export { installAutograd, type TensorAutograd } from './methods.js';
