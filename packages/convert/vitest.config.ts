import { defineConfig } from "vitest/config";

// `default` runs with @lwlog/native's addon when it is built (always in CI): mapped reads, and
// large data copied by the kernel. `read` runs the conversion and export tests again without
// it (LWLOG_NO_NATIVE=1), as where the addon cannot be built: both paths must give the same.
export default defineConfig({
  resolve: { conditions: ["@lwlog/source"] },
  ssr: { resolve: { conditions: ["@lwlog/source"] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "default", include: ["src/**/*.test.ts"] } },
      { extends: true, test: { name: "read", include: ["src/convert.test.ts", "src/export.test.ts"], env: { LWLOG_NO_NATIVE: "1" } } },
    ],
  },
});
