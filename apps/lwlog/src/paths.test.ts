import { describe, expect, it } from "vitest";
import { distinctNames } from "./paths.js";

describe("distinctNames: short names that tell two files apart", () => {
  it("base names when they differ, else the shortest differing tails of the paths", () => {
    expect(distinctNames("/t/before.log", "/t/after.log")).toEqual(["before.log", "after.log"]);
    expect(distinctNames("/runs/1/disk.log", "/runs/2/disk.log")).toEqual(["1/disk.log", "2/disk.log"]);
    expect(distinctNames("/a/x/y/disk.log", "/b/x/y/disk.log")).toEqual(["/a/x/y/disk.log", "/b/x/y/disk.log"]);
    expect(distinctNames("/r/a/x/disk.log", "/r/b/x/disk.log")).toEqual(["a/x/disk.log", "b/x/disk.log"]);
  });

  it("the whole path where one path is the other's tail; the base name twice for the same file", () => {
    expect(distinctNames("/x/disk.log", "/y/x/disk.log")).toEqual(["/x/disk.log", "/y/x/disk.log"]);
    expect(distinctNames("/disk.log", "/y/disk.log")).toEqual(["/disk.log", "/y/disk.log"]);
    expect(distinctNames("/z/y/x/disk.log", "/y/x/disk.log")).toEqual(["/z/y/x/disk.log", "/y/x/disk.log"]);
    expect(distinctNames("/t/disk.log", "/t/disk.log")).toEqual(["disk.log", "disk.log"]);
  });
});
