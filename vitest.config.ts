import { defineConfig } from 'vitest/config';

// Two projects: fast pure units beside their modules, and lab tests that need root,
// network namespaces and the real tools (they share one rig in test/helpers/rig.ts).
export default defineConfig({
  test: {
    // vitest's default on a 2-core machine is one worker: every file would run in turn.
    maxWorkers: 3,
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
          // Each lab file builds its own lab (own prefix for every kernel object, own claimed
          // subnets: test/helpers/rig.ts), so files run side by side; they mostly wait on
          // sshd, QEMU and the kernel, which is why more workers than cores pays off.
          fileParallelism: true,
        },
      },
    ],
  },
});
