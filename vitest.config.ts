import { defineConfig } from 'vitest/config';

// Two projects: fast pure units beside their modules, and lab tests that need root,
// network namespaces and the real tools (they share one rig in test/helpers/rig.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // lab tests share kernel state (namespaces, bridges): run files one at a time
          fileParallelism: false,
        },
      },
    ],
  },
});
