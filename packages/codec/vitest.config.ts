import { defineConfig } from "vitest/config";

// Every test runs twice: `mapped` reads logs through @lwlog/native's mapped windows (opt-in with
// LWLOG_MMAP=1; the addon is always built in CI), `read` through the reader's own readSync
// buffer, the default, and what runs where the addon cannot be built. Both must pass.
export default defineConfig({
  resolve: { conditions: ["@lwlog/source"] },
  ssr: { resolve: { conditions: ["@lwlog/source"] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "mapped", include: ["src/**/*.test.ts"], env: { LWLOG_MMAP: "1" } } },
      // mapped-reads.test.ts compares the two paths in one process: once is enough.
      { extends: true, test: { name: "read", include: ["src/**/*.test.ts"], exclude: ["src/mapped-reads.test.ts"], env: { LWLOG_NO_NATIVE: "1" } } },
    ],
  },
});
