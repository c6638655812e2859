// Datasets and metrics: DigitScenes (real MNIST digits in segmentation scenes) and confusion-matrix metrics.
export {
  DigitScenes,
  DIGIT_SCENE_CLASSES,
  DIGIT_SCENE_MEAN,
  DIGIT_SCENE_STD,
  type DigitScenesOptions,
  type DigitScene,
  type DigitPlacement,
} from './digit-scenes.js';
export { SegMetrics, IGNORE_INDEX, argmaxClasses } from './seg-metrics.js';
export { loadDigits, mnistDigitDir } from './mnist.js';
export { DIGIT_SIDE, packDigits, unpackDigits, type DigitClass } from './digits.js';
