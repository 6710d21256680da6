import { defineConfig } from "vitest/config";

// Every test runs twice: `native` with @lwlog/native's addon (mapped log windows, copy_file_range,
// fallocate, BLKZEROOUT; when it is built: always in CI), `fallback` without it (LWLOG_NO_NATIVE),
// as where the addon cannot be built. native-paths.test.ts runs both itself; target.test.ts asks
// for what only the kernel can do (a 64 GiB discard that allocates nothing), so only `native`.
export default defineConfig({
  resolve: { conditions: ["@lwlog/source"] },
  ssr: { resolve: { conditions: ["@lwlog/source"] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "native", include: ["src/**/*.test.ts"] } },
      { extends: true, test: { name: "fallback", include: ["src/**/*.test.ts"], exclude: ["src/native-paths.test.ts", "src/target.test.ts"], env: { LWLOG_NO_NATIVE: "1" } } },
    ],
  },
});
