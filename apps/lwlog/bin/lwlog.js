#!/usr/bin/env node
// The `lwlog` command npm links into node_modules/.bin. It is a file of its own, in the
// repository, because npm links a package's bin at install time and skips one whose file is
// not there yet: dist/ exists only after the build (`npm start` or `npm run build`).
import { existsSync } from "node:fs";

const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `lwlog: error: lwlog is not built (${main.pathname} is missing): run \`npm start\` or \`npm run build\` in the repository first [LWLOG_NOT_BUILT]\n`,
  );
  process.exit(2);
}
await import(main.href);
