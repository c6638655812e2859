// What a browser rank's bootstrap loads once its launch data is in place (one chunk shared with the rank bodies).
export { initProcessGroup } from '../comm/init.js';
export { toRankError } from '../comm/outcome.js';
