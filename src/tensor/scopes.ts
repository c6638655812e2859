// The open tidy() scopes, shared by the tensor constructor (which records into the innermost) and tidy().
import type { Tensor } from './tensor.js';

/** Each open tidy() scope: the tensors created while it is open (innermost last). */
export const scopes: Tensor[][] = [];
