/**
 * `@lwlog/testkit` (private): what the test suites of every package share. System tools
 * are required, never optional: a test that needs `qemu-io` and cannot find it fails with
 * a message naming the Debian package, so a missing tool can never look like a pass.
 */
export * from "./tools.js";
export * from "./files.js";
export * from "./qemu.js";
export * from "./kernel-logs.js";
export * from "./fs-workload.js";
export * from "./recorded-logs.js";
export * from "./mounts.js";
export * from "./loops.js";
export * from "./sshd.js";
export * from "./xfstests.js";
