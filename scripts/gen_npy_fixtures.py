# Writes fixtures/npy/*.npy with NumPy itself, for test/io/npy.test.ts (reader checks, byte-identical writer).
# Run: /usr/bin/python3 scripts/gen_npy_fixtures.py
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'npy')


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        # value rule shared with the test: arange(n) * 0.5 - 1, reshaped (C order)
        'f32_2x3.npy': (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
        'f64_2x3x4.npy': (np.arange(24, dtype=np.float64) * 0.5 - 1).reshape(2, 3, 4),
        'f64_5.npy': np.arange(5, dtype=np.float64) * 0.5 - 1,
        'f32_0x3.npy': np.zeros((0, 3), dtype=np.float32),
        'f64_scalar.npy': np.array(-1.0, dtype=np.float64),
        # must be rejected
        'f32_fortran_3x2.npy': np.asfortranarray((np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(3, 2)),
        'i32_4.npy': np.arange(4, dtype=np.int32),
        'f32_bigendian_3.npy': np.arange(3, dtype='>f4'),
    }
    for name, arr in files.items():
        np.save(os.path.join(OUT, name), arr)
        print(name, arr.dtype, arr.shape, os.path.getsize(os.path.join(OUT, name)))
    print('numpy', np.__version__)


if __name__ == '__main__':
    main()
