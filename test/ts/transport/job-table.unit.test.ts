import { describe, expect, test } from "vitest";
import { JobTable } from "../../../ts/transport/job-table.js";

describe("JobTable", () => {
  test("holds jobs by request id like a Map", () => {
    const table = new JobTable<string>();
    table.add(7, "a");
    table.add(4_294_967_295, "b"); // the largest request id
    expect(table.size).toBe(2);
    expect(table.has(7)).toBe(true);
    expect(table.get(4_294_967_295)).toBe("b");
    expect(table.get(8)).toBeUndefined();
    expect(table.values().sort()).toEqual(["a", "b"]);
    expect(table.remove(7)).toBe("a");
    expect(table.remove(7)).toBeUndefined();
    expect(table.has(7)).toBe(false);
    expect(table.size).toBe(1);
  });

  test("refuses an id already in flight, and lets a removed id be reused", () => {
    const table = new JobTable<number>();
    table.add(1, 10);
    expect(() => table.add(1, 11)).toThrow("request id 1 is already in flight");
    table.remove(1);
    table.add(1, 12);
    expect(table.get(1)).toBe(12);
  });

  test("values() is a snapshot: jobs removed or added while iterating do not change what it visits", () => {
    const table = new JobTable<number>();
    for (let id = 1; id <= 5; id++) table.add(id, id);
    const seen: number[] = [];
    for (const job of table.values()) {
      seen.push(job);
      table.remove(job);
      table.add(100 + job, 100 + job); // a job started while others settle
    }
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(table.size).toBe(5);
  });
});
